"""Re-evaluate flow: score every direction's newest version that a judge has not scored yet.

Served as a deployment triggered by ``latentops.direction.registered`` (a fit or refit
registered a version), so a new direction version gets its scorecard without anyone asking. The
plan skips versions the judge already scored, so a second run evaluates nothing.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from latentops.errors import LatentOpsError, VersionConflictError
from latentops.flows._lineage import record_scorecards
from latentops.flows.evaluate import evaluate_flow
from latentops.flows.params import ReevaluateSpec
from latentops.flows.runners import runner_for
from latentops.storage import Store, StoreAccessError
from latentops.tasks.reevaluate import plan_reevaluate

__all__ = ["ReevaluateSpec", "reevaluate_flow"]


@flow(name="reevaluate-directions")
def reevaluate_flow(spec: ReevaluateSpec, store: str | None = None) -> dict[str, Any]:
    """Scorecard, with ``spec.judge``, of each direction's newest version it has not scored."""
    root = str(Store.open(store).root)
    runner = runner_for(spec.runner)
    plan = plan_reevaluate(root, spec.judge)
    logger = get_run_logger()
    for skip in plan["skipped"]:
        logger.info("not evaluating %s: %s", skip["ref"], skip["reason"])
    evaluated: dict[str, str] = {}
    failed: list[str] = []
    for group in plan["groups"]:
        try:
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
        except (StoreAccessError, VersionConflictError):
            raise  # transient: the whole run is worth retrying
        except LatentOpsError as exc:  # one table's bad input must not starve the others
            failed.append(f"{', '.join(group['directions'])} on {group['table']}: {exc}")
            continue
        evaluated.update({ref: summary["run_id"] for ref in summary["directions"]})
    logger.info("evaluated %d direction version(s) with %s", len(evaluated), plan["judge"])
    record_scorecards(root, plan["judge"], evaluated)
    if failed:
        raise LatentOpsError(
            f"re-evaluate scored {len(evaluated)} direction version(s) but failed for "
            + "; ".join(failed)
        )
    return {"judge": plan["judge"], "evaluated": evaluated, "skipped": plan["skipped"]}
