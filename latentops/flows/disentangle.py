"""Closed-loop disentangling: score, condition on the worst leaks, re-score, keep the better.

Both scorecards use one protocol (same snapshot, items, grid, judge and seed), so the
comparison is like with like; every version stays in the catalog with its parent and reason.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from latentops.flows.artifacts import artifact_key
from latentops.flows.evaluate import evaluate_flow
from latentops.storage import Store
from latentops.tasks.disentangle import keep_better, propose_conditional


@flow(name="disentangle-direction")
def disentangle_flow(
    name: str,
    judge: str,
    *,
    store: str | None = None,
    strengths: list[float] | None = None,
    sample: int | None = 256,
    seed: int = 0,
    device: str | None = None,
) -> dict[str, Any]:
    """Propose ``name``@next orthogonal to its worst judged leaks; keep whichever is better."""
    opened = Store.open(store)
    root = str(opened.root)
    _, lineage, pinned = opened.directions.get(name)
    parent = str(pinned)
    table, version = lineage.latent_table, opened.latent_table(lineage.latent_table).version
    protocol = {"strengths": strengths, "sample": sample, "seed": seed, "device": device}

    def score(ref: str) -> str:
        run = evaluate_flow(table, [ref], judge, store=root, table_version=version, **protocol)
        return run["run_id"]

    runs = {parent: score(parent)}
    child = propose_conditional(root, parent, runs[parent], judge)
    runs[child] = score(child)
    out = keep_better(root, parent, child, runs, judge)
    create_table_artifact(
        [
            {"direction": ref, "run": runs[ref], **v, "off_target": str(v["off_target"])}
            for ref, v in out["verdicts"].items()
        ],
        key=artifact_key("disentangle", pinned.name),
        description=f"disentangling {parent}: kept {out['kept']} (latest {out['latest']})",
    )
    get_run_logger().info("disentangle %s -> %s: kept %s", parent, child, out["kept"])
    return {**out, "parent": parent, "child": child, "runs": runs}
