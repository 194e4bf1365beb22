"""Refit planning: which directions were fitted on an older version of their latent table."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.errors import LatentOpsError
from latentops.storage import Store
from latentops.storage.deltas import version_delta

REFITTABLE = ("classification", "regression")
_WHY_NOT = {
    "unsupervised": (
        "pca/sefa components can reorder or flip between fits (and sefa reads only the "
        "decoder weights), so a new component i is not the next version of the old one; "
        "fit them again with `latentops directions fit`"
    ),
    "manual": "a manual direction is a user vector, not fitted on the table",
}


def _rows_changed(store: Store, table: str, then: int, now: int) -> bool:
    """True unless versions ``then`` and ``now`` of ``table`` hold the same item ids."""
    try:
        return version_delta(store.latents(table), then, now).num_rows > 0
    except LatentOpsError:  # ``then`` no longer reads: refit rather than guess
        return True


@task(cache_policy=NO_CACHE)
def plan_refit(store_path: str, table: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Specs to refit the latest version of every stale direction (optionally of one table).

    A direction is stale when its lineage's latent_table_version is below the table's
    current version and the items differ (a compaction alone adds a version, not items).
    Each spec reuses the old fit's method, label and parameters and names the old version
    as its parent; directions that cannot be refit are listed under ``skipped`` with the
    reason.
    """
    store = Store.open(store_path)
    if table is not None:
        store.latent_table(table)  # NotFoundError listing the tables
    latest: dict[str, dict[str, Any]] = {}
    for row in store.directions.list().to_pylist():
        if row["version"] > latest.get(row["name"], {"version": 0})["version"]:
            latest[row["name"]] = row
    current: dict[str, int | None] = {}
    refit, skipped = [], []
    for name, row in sorted(latest.items()):
        source = row["latent_table"]
        if source is None or (table is not None and source != table):
            continue
        if source not in current:
            latents = store.latents(source)
            current[source] = latents.version if latents.exists() else None
        now, then = current[source], row["latent_table_version"]
        if now is None or then is None or then >= now:
            continue  # up to date (or its table is gone)
        if not _rows_changed(store, source, then, now):
            continue  # only maintenance committed since (a compaction): the same rows
        ref = f"{name}@{row['version']}"
        if row["kind"] not in REFITTABLE:
            skipped.append({"ref": ref, "reason": _WHY_NOT.get(row["kind"], "not refittable")})
            continue
        direction, _, _ = store.directions.get(ref)
        # fit_direction records the resolved target in params; it is an output, not an input.
        params = {k: v for k, v in direction.params.items() if k != "target"}
        refit.append(
            {
                "table": source,
                "table_version": now,
                "name": name,
                "method": direction.method,
                "label": direction.label,
                "params": params,
                "parent": ref,
            }
        )
    return {"refit": refit, "skipped": skipped}
