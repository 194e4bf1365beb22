"""Refit planning: which directions were fitted on an older version of their latent table."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.directions.transfer import refit_params
from latentops.errors import LatentOpsError
from latentops.refs import parse_ref
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


def _newest_tables(store: Store) -> dict[str, tuple[int, list[str]]]:
    """Model name -> (its newest version that has latent tables, those tables)."""
    newest: dict[str, tuple[int, list[str]]] = {}
    for name in store.latent_tables():
        try:
            model = parse_ref(store.latents(name).card.get("model") or "", "model")
        except LatentOpsError:  # an unreadable card or an unversioned import: nothing to carry
            continue
        version, tables = newest.get(model.name, (0, []))
        if model.version is not None and model.version > version:
            newest[model.name] = (model.version, [name])
        elif model.version == version:
            tables.append(name)
    return newest


def _carry_target(
    row: dict[str, Any], newest: dict[str, tuple[int, list[str]]], table: str | None
) -> tuple[str | None, str | None]:
    """(table, None) to carry a direction to its model's newer version, (None, why) if it
    cannot be, (None, None) if its model has no newer version with a table."""
    try:
        model = parse_ref(row["model"] or "", "model")
    except LatentOpsError:
        return None, None
    version, tables = newest.get(model.name, (0, []))
    if model.version is None or version <= model.version:
        return None, None
    if table is not None:
        return (table, None) if table in tables else (None, None)
    if len(tables) > 1:
        return None, (
            f"{model.name}@{version} has several latent tables ({', '.join(sorted(tables))}); "
            "carry it to one with `latentops directions transfer`"
        )
    return tables[0], None


@task(cache_policy=NO_CACHE)
def plan_refit(store_path: str, table: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Specs to refit the latest version of every stale direction (optionally of one table).

    A direction is stale when its lineage's latent_table_version is below the table's
    current version and the items differ (a compaction alone adds a version, not items).
    Each spec reuses the old fit's method, label and parameters and names the old version
    as its parent; directions that cannot be refit are listed under ``skipped`` with the
    reason. A supervised direction whose model has a newer version with a latent table is
    listed under ``carry`` instead: the refit flow carries it to that table (or refits it
    there, whichever scores better within a tolerance).
    """
    store = Store.open(store_path)
    if table is not None:
        store.latent_table(table)  # NotFoundError listing the tables
    latest: dict[str, dict[str, Any]] = {}
    for row in store.directions.list().to_pylist():
        if row["version"] > latest.get(row["name"], {"version": 0})["version"]:
            latest[row["name"]] = row
    current: dict[str, int | None] = {}
    newest = _newest_tables(store)
    refit, skipped, carry = [], [], []
    for name, row in sorted(latest.items()):
        if row["kind"] in REFITTABLE:
            target, why = _carry_target(row, newest, table)
            if target is not None:
                carry.append({"ref": f"{name}@{row['version']}", "to_table": target})
                continue
            if why is not None:
                skipped.append({"ref": f"{name}@{row['version']}", "reason": why})
                continue
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
        params = refit_params(direction)  # recorded outputs (target, transfer, carry) left out
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
    return {"refit": refit, "skipped": skipped, "carry": carry}
