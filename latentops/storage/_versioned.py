"""Immutable ``name@version`` rows in a Delta table, with gapless versions under concurrency."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from latentops.errors import NotFoundError, VersionConflictError
from latentops.refs import Ref
from latentops.storage import _delta

_MATCH = "t.name = s.name AND t.version = s.version"


def latest_version(table: DeltaTable, name: str) -> int:
    """Highest registered version of ``name`` (0 when none)."""
    versions = _delta.read(table, ["version"], {"name": name})["version"]
    return int(pc.max(versions).as_py() or 0) if len(versions) else 0


def register(
    uri: str,
    schema: pa.Schema,
    card: dict[str, Any],
    name: str,
    build_row: Callable[[int], dict[str, Any]],
    run_id: str | None,
    what: str,
) -> int:
    """Append ``build_row(next_version)`` under ``name``; return the version that won."""
    _delta.create(uri, schema, card, run_id)
    for _ in range(_delta.MAX_COMMIT_ATTEMPTS):
        table = _delta.delta_table(uri)
        version = latest_version(table, name) + 1
        row = pa.Table.from_pylist([build_row(version)], schema=schema)
        try:
            with _delta.reaching(uri, "commit to"):
                metrics = (
                    table.merge(
                        row,
                        predicate=_MATCH,
                        source_alias="s",
                        target_alias="t",
                        commit_properties=_delta.commit_props(run_id, f"register {what}"),
                        post_commithook_properties=_delta.KEEP_LOG,
                    )
                    .when_not_matched_insert_all()
                    .execute()
                )
        except CommitFailedError:
            continue
        if metrics["num_target_rows_inserted"] == 1:
            return version
        # Someone else committed name@version first; re-read and take the next one.
    raise VersionConflictError(
        f"could not register {what} {name!r}: too many concurrent registrations; retry"
    )


def card_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A registry row as a JSON card: ``*_json`` columns decoded, ``ref`` = name@version."""
    card = {k: v for k, v in row.items() if not k.endswith("_json")}
    card["created_at"] = row["created_at"].isoformat() if row.get("created_at") else None
    for key, value in row.items():
        if key.endswith("_json"):
            card[key.removesuffix("_json")] = json.loads(value or "{}")
    card["ref"] = f"{row['name']}@{row['version']}"
    return card


def get_row(uri: str, ref: Ref, what: str) -> dict[str, Any]:
    """Return the row of ``ref`` (latest when unpinned) or raise NotFoundError."""
    if not _delta.exists(uri):
        raise NotFoundError(f"no {what} registered yet, so {str(ref)!r} does not exist")
    table = _delta.delta_table(uri)
    rows = _delta.read(table, where={"name": ref.name})
    if not len(rows):
        names = sorted(
            set(_delta.arrow_dataset(table).to_table(columns=["name"])["name"].to_pylist())
        )
        raise NotFoundError(f"unknown {what} {ref.name!r}; known: {', '.join(names) or 'none'}")
    versions = rows["version"].to_pylist()
    version = ref.version if ref.version is not None else max(versions)
    if version not in versions:
        raise NotFoundError(f"{what} {ref.name!r} has versions {sorted(versions)}, not {version}")
    return rows.filter(pc.equal(rows["version"], version)).to_pylist()[0]
