"""Re-evaluate flow: score every direction's newest version that a judge has not scored yet.

Served as a deployment triggered by ``latentops.direction.registered`` (a refit registered
``name@next``), so a new direction version gets its scorecard without anyone asking. The
plan skips versions the judge already scored, so a second run evaluates nothing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow.compute as pc
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field

from latentops.errors import LatentOpsError
from latentops.flows._lineage import record_scorecards
from latentops.flows.evaluate import evaluate_flow
from latentops.flows.params import RunnerOptions
from latentops.flows.runners import make_task_runner
from latentops.storage import Store
from latentops.storage.judges import JudgeRegistry
from latentops.storage.scores import ScoresTable
from latentops.tasks.edit import pin_snapshot, resolve_directions
from latentops.tasks.evaluate import check_evaluation


class ReevaluateSpec(BaseModel):
    """How a re-evaluate run scores each new direction version (the evaluate flow's settings)."""

    model_config = ConfigDict(extra="forbid")

    judge: str = Field(..., description="Judge NAME (latest version at each run) or NAME@VERSION.")
    strengths: list[float] | None = Field(
        None, min_length=2, description="Strength grid (default -3, -1.5, 0, 1.5, 3)."
    )
    sample: int | None = Field(512, ge=2, description="Items per scorecard (seeded sample).")
    seed: int = Field(0, description="Seed of the item sample and of the path-length strengths.")
    calibrate: float | None = Field(
        1.0, description="Find the strength that moves the judged target by this much."
    )
    chunk_size: int = Field(2048, ge=1, description="Items per scoring task.")
    batch_size: int = Field(256, ge=1, description="Items per decode + judge batch.")
    device: str | None = Field(None, description="torch device (default: cuda when present).")
    runner: RunnerOptions = Field(default_factory=RunnerOptions)


def _scored_by(store: Store, judge_ref: str) -> set[str]:
    """Direction refs that already have edit scores from ``judge_ref``."""
    scores = ScoresTable(store.table_uri("scores")).read(kind="edit")
    mine = scores.filter(pc.equal(scores["judge"], judge_ref))
    return {d for d in mine["direction"].to_pylist() if d is not None}


@task(cache_policy=NO_CACHE)
def plan_reevaluate(store_path: str, judge: str) -> dict[str, Any]:
    """The pinned judge, the unscored newest direction versions grouped by table, and skips.

    Each group is (table, the version its directions were fitted on, refs). A version that
    this judge cannot score (another dataset, no label to judge, table gone) is skipped
    with the reason instead of failing the run for every other direction.
    """
    store = Store.open(store_path)
    judge_ref = JudgeRegistry(store.root).card(judge)["ref"]  # NotFoundError names judges
    latest: dict[str, dict[str, Any]] = {}
    for row in store.directions.list().to_pylist():
        if row["version"] > latest.get(row["name"], {"version": 0})["version"]:
            latest[row["name"]] = row
    scored = _scored_by(store, judge_ref)
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    skipped = []
    for name, row in sorted(latest.items()):
        ref = f"{name}@{row['version']}"
        if ref in scored:
            continue
        table, version = row["latent_table"], row["latent_table_version"]
        if table is None:
            skipped.append({"ref": ref, "reason": "not fitted on a latent table"})
            continue
        try:
            snap, card = pin_snapshot(store, table, version)
            resolve_directions(store, [ref], card, table)
            check_evaluation(store, card, judge_ref, [ref], None)
        except LatentOpsError as exc:
            skipped.append({"ref": ref, "reason": str(exc)})
            continue
        groups[(table, snap.version)].append(ref)
    plan = [{"table": t, "version": v, "directions": refs} for (t, v), refs in groups.items()]
    return {"judge": judge_ref, "groups": plan, "skipped": skipped}


@flow(name="reevaluate-directions")
def reevaluate_flow(spec: ReevaluateSpec, store: str | None = None) -> dict[str, Any]:
    """Scorecard, with ``spec.judge``, of each direction's newest version it has not scored."""
    root = str(Store.open(store).root)
    runner = make_task_runner(
        spec.runner.kind, address=spec.runner.address, n_workers=spec.runner.n_workers
    )
    plan = plan_reevaluate(root, spec.judge)
    logger = get_run_logger()
    for skip in plan["skipped"]:
        logger.info("not evaluating %s: %s", skip["ref"], skip["reason"])
    evaluated: dict[str, str] = {}
    for group in plan["groups"]:
        summary = evaluate_flow.with_options(task_runner=runner)(
            group["table"],
            group["directions"],
            plan["judge"],
            strengths=spec.strengths,
            sample=spec.sample,
            seed=spec.seed,
            calibrate=spec.calibrate,
            store=root,
            table_version=group["version"],
            batch_size=spec.batch_size,
            device=spec.device,
            chunk_size=spec.chunk_size,
        )
        evaluated.update({ref: summary["run_id"] for ref in summary["directions"]})
    logger.info("evaluated %d direction version(s) with %s", len(evaluated), plan["judge"])
    record_scorecards(root, plan["judge"], evaluated)
    return {"judge": plan["judge"], "evaluated": evaluated, "skipped": plan["skipped"]}
