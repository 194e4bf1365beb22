"""Re-evaluate planning: which direction versions a judge has not scored yet."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.errors import LatentOpsError, VersionConflictError
from latentops.storage import Store, StoreAccessError
from latentops.tasks._common import check_evaluation


def _scored_by(store: Store, judge_ref: str) -> set[str]:
    """Direction refs that already have edit scores from ``judge_ref``."""
    scores = store.scores.read(kind="edit")
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
    judge_ref = store.judges.card(judge)["ref"]  # NotFoundError names judges
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
            snap = store.snapshot(table, version)
            snap.select()  # an empty table version has nothing to score
            store.directions.pin([ref], snap)
            check_evaluation(store, snap.card, judge_ref, [ref], None)
        except (StoreAccessError, VersionConflictError):
            raise  # transient: retry the run rather than skip the version for good
        except LatentOpsError as exc:
            skipped.append({"ref": ref, "reason": str(exc)})
            continue
        groups[(table, snap.version)].append(ref)
    plan = [{"table": t, "version": v, "directions": refs} for (t, v), refs in groups.items()]
    return {"judge": judge_ref, "groups": plan, "skipped": skipped}
