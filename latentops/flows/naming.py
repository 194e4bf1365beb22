"""Names for unsupervised directions: a judged traversal of each, read on every judge head.

Check the judge -> fit the components (pca, sefa, or one manual direction per latent axis)
or take the given directions -> decode and judge a traversal of each (the scorecard's chunk
task, no path length) -> register ``name``@next carrying the suggested labels and their
evidence on its card, the traversed version as parent.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from latentops._validate import check_grid
from latentops.errors import InvalidInputError
from latentops.flows.artifacts import artifact_key
from latentops.flows.runners import fan_out
from latentops.refs import check_name
from latentops.storage import Store
from latentops.tasks._common import check_evaluation, transient_retries
from latentops.tasks.directions import fit_and_register
from latentops.tasks.evaluate import score_chunk
from latentops.tasks.naming import name_and_register

NAMING_STRENGTHS = (-2.0, -1.0, 0.0, 1.0, 2.0)
COMPONENTS = ("pca", "sefa", "axes")  # what --method can fit before naming


def _fit_components(
    root: str, table: str, version: int, method: str, n: int, prefix: str, d: int
) -> list[str]:
    """Register the components to name: ``prefix-pcaK`` / ``prefix-sefaK`` / ``prefix-axisK``."""
    if method == "axes":
        return [
            fit_and_register(
                root, table, f"{prefix}-axis{i}", "manual", None, {"axis": i}, version
            )[0]
            for i in range(d)
        ]
    return fit_and_register(root, table, prefix, method, None, {"n_components": n}, version)


@flow(name="name-directions")
def name_flow(
    table: str,
    judge: str,
    *,
    directions: list[str] | None = None,
    method: str | None = None,
    n_components: int = 3,
    prefix: str | None = None,
    store: str | None = None,
    table_version: int | None = None,
    strengths: list[float] | None = None,
    sample: int | None = 256,
    seed: int = 0,
    batch_size: int = 256,
    device: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Name each direction (given, or fitted by ``method``) by a judged traversal; see module."""
    opened = Store.open(store)
    root = str(opened.root)
    if method is not None and method not in COMPONENTS:
        raise InvalidInputError(
            f"method {method!r} does not apply: naming fits unlabelled directions, one of "
            f"{COMPONENTS}; name a supervised direction with --direction NAME"
        )
    if method is None and not directions:
        raise InvalidInputError("nothing to name: pass --direction NAME or --method pca")
    grid = sorted(check_grid(strengths or NAMING_STRENGTHS, "strengths", min_size=3))
    snap = opened.snapshot(table, table_version)
    judge_card = opened.judges.card(judge)
    target = sorted(judge_card["factors"])[0]  # any head: naming reads every head's prediction
    judge_ref, _ = check_evaluation(opened, snap.card, judge, [], target)
    refs = opened.directions.pin(directions, snap) if directions else []
    if method is not None:
        name = check_name(prefix or table, "direction name prefix")
        refs += _fit_components(
            root, table, snap.version, method, n_components, name, int(snap.card["d"])
        )
    ids = snap.select(sample=sample, seed=seed)

    # Traverse and judge every direction over the same items and grid
    options = {"target": target, "seed": seed, "batch_size": batch_size, "device": device}
    calls = [
        (
            len(ids),
            (root, table, snap.version, ref, judge_ref, ids, 0, grid),
            {**options, "ppl_items": 0},
        )
        for ref in refs
    ]
    parts = fan_out(
        score_chunk.with_options(**transient_retries()),
        calls,
        description=f"name directions of {table}",
        total=len(refs) * len(ids),
    )
    named = [
        name_and_register(root, ref, judge_ref, [part], grid)
        for ref, part in zip(refs, parts, strict=True)
    ]
    out = {new: opened.directions.get(new)[0].audit["names"] for new in named}
    create_table_artifact(
        [
            {"direction": ref, "name": n["label"], "evidence": n["evidence"]}
            for ref, n in out.items()
        ],
        key=artifact_key("names", table),
        description=f"suggested names of {len(out)} direction(s) on {table}@{snap.version}",
    )
    get_run_logger().info("named %s", {ref: n["label"] for ref, n in out.items()})
    return out
