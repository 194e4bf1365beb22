"""Thin, retrying helpers over deltalake: create, read, append, insert-if-absent merges.

Every table is addressed by a URI string (a local path or ``s3://...``); its deltalake
``storage_options`` come from ``_location.storage_options_for`` and never hold credentials.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from latentops.errors import CorruptArtifactError, NotFoundError, VersionConflictError
from latentops.storage._location import (
    Location,
    StoreAccessError,
    access_error,
    storage_options_for,
)

MAX_COMMIT_ATTEMPTS = 25
# Every commit we make passes this: delta-rs' default post-commit hook, whenever it writes a
# checkpoint (every 100 commits), deletes commit files older than logRetentionDuration (30
# days), and with them time travel to older versions, pinned ones included. Pins are ours to
# keep, so the log is never trimmed behind our back.
KEEP_LOG = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)


def commit_props(run_id: str | None, operation: str) -> CommitProperties:
    """Commit metadata that ties a table version to the flow run that wrote it."""
    meta = {"latentops.operation": operation}
    if run_id:
        meta["latentops.run_id"] = run_id
    return CommitProperties(custom_metadata=meta)


@contextmanager
def reaching(uri: str, action: str) -> Iterator[None]:
    """Turn an object store's I/O failure (endpoint, bucket, credentials) into StoreAccessError.

    deltalake raises OSError for network and credential failures and DeltaError for bad
    tables; only the former is about reaching the store, so only that one is translated.
    """
    try:
        yield
    except OSError as exc:
        if not uri.startswith("s3://"):
            raise
        raise access_error(exc, action, uri) from None


def first_line(exc: BaseException) -> str:
    """An error's first line: deltalake appends Rust backtraces and colour codes to messages."""
    lines = str(exc).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(exc).__name__


# A data file the Delta log lists but the store lacks, as deltalake's filesystem and pyarrow's
# (local, S3) word it, also when DuckDB reports it while streaming a table.
_MISSING_FILE = re.compile(
    r"Object at location (\S+) not found"
    r"|Failed to open local file '([^']+)'\. Detail: \[errno 2\]"
    r"|Path does not exist '([^']+)'"
)


def missing_file(text: str) -> str | None:
    """The path of a missing data file an error message names, or None."""
    found = _MISSING_FILE.search(text)
    return next(g for g in found.groups() if g) if found else None


def _is_missing_file(exc: BaseException) -> bool:
    return isinstance(exc, FileNotFoundError) or missing_file(str(exc)) is not None


@contextmanager
def scanning(uri: str) -> Iterator[None]:
    """Turn a read of a data file the log lists but the store lacks into CorruptArtifactError."""
    try:
        yield
    except (DeltaError, OSError) as exc:
        if isinstance(exc, StoreAccessError) or not _is_missing_file(exc):
            raise
        raise CorruptArtifactError(
            f"table {uri} lists a data file that is missing ({first_line(exc)}); see how to "
            "repair it with `latentops tables check`"
        ) from None


def delta_table(uri: str) -> DeltaTable:
    """``DeltaTable(uri)`` with the location's storage options (raises deltalake's errors)."""
    with reaching(uri, "open the Delta table"):
        return DeltaTable(uri, storage_options=storage_options_for(uri))


def exists(uri: str) -> bool:
    """True if a Delta table lives at ``uri``."""
    with reaching(uri, "look for a Delta table at"):
        return DeltaTable.is_deltatable(uri, storage_options=storage_options_for(uri))


def open_table(uri: str, version: int | None = None, *, what: str = "table") -> DeltaTable:
    """Open a Delta table (optionally as of ``version``) or raise NotFoundError."""
    try:
        table = delta_table(uri)
    except TableNotFoundError:
        raise NotFoundError(f"{what} does not exist at {uri}") from None
    except StoreAccessError:
        raise
    except (DeltaError, OSError) as exc:
        raise CorruptArtifactError(
            f"{what} at {uri} cannot be read as a Delta table ({first_line(exc)}); see how to "
            "repair it with `latentops tables check`"
        ) from None
    if version is not None:
        latest = table.version()
        if not 0 <= version <= latest:
            raise NotFoundError(
                f"{what} has versions 0..{latest}, not {version}; list them with "
                "`latentops tables show NAME`"
            )
        table.load_as_version(version)
    return table


def create(uri: str, schema: pa.Schema, card: dict[str, Any], run_id: str | None) -> DeltaTable:
    """Create the table if absent (racing creators are fine); return it."""
    for attempt in range(MAX_COMMIT_ATTEMPTS):
        if exists(uri):
            return delta_table(uri)
        try:
            with reaching(uri, "create the Delta table"):
                return DeltaTable.create(
                    uri,
                    schema,
                    mode="ignore",
                    description=json.dumps(card, sort_keys=True),
                    commit_properties=commit_props(run_id, "create"),
                    post_commithook_properties=KEEP_LOG,
                    storage_options=storage_options_for(uri),
                )
        except (CommitFailedError, DeltaError):
            # Another process created it between our check and our commit.
            time.sleep(0.01 * (attempt + 1))
    return delta_table(uri)


def arrow_dataset(table: DeltaTable, schema: pa.Schema | None = None) -> Any:
    """``table.to_pyarrow_dataset(schema=...)`` read through pyarrow's native filesystem.

    deltalake's default filesystem is a Python handler, so Arrow's reader threads hold
    Python-backed buffers; one such thread freeing its last buffer while the interpreter exits
    cannot take the GIL and aborts the process ("terminate called without an active exception",
    exit 134, in about 1 of 5 short scripts). Native buffers need no GIL.
    """
    where = Location.of(table.table_uri)
    filesystem = pafs.SubTreeFileSystem(where.path, where.fs)
    return table.to_pyarrow_dataset(filesystem=filesystem, schema=schema)


def dataset(table: DeltaTable) -> Any:
    """A Delta table as a pyarrow dataset whose string columns are typed string_view.

    deltalake 1.x writes Parquet strings as string_view while the dataset reports string,
    and pyarrow then fails every string filter ("no kernel matching (string, string_view)").
    Declaring string_view reads both kinds of file correctly.
    """
    base = arrow_dataset(table).schema
    fields = [
        f.with_type(pa.string_view())
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        else f
        for f in base
    ]
    return arrow_dataset(table, pa.schema(fields, metadata=base.metadata))


def read(
    table: DeltaTable, columns: list[str] | None = None, where: dict[str, Any] | None = None
) -> pa.Table:
    """Read a Delta table with plain string columns, keeping rows where ``col == value``.

    The equality filter runs on the decoded Arrow table: pyarrow 26 has no kernels for the
    string_view columns deltalake writes, so string predicates cannot be pushed into the scan.
    """
    where = where or {}
    wanted = None if columns is None else list(dict.fromkeys([*columns, *where]))
    with scanning(table.table_uri):
        out = dataset(table).to_table(columns=wanted)
    out = out.cast(
        pa.schema(
            [f.with_type(pa.string()) if pa.types.is_string_view(f.type) else f for f in out.schema]
        )
    )
    if where:
        import pyarrow.compute as pc

        mask = None
        for col, value in where.items():
            cond = pc.equal(out[col], pa.scalar(value, out.schema.field(col).type))
            mask = cond if mask is None else pc.and_(mask, cond)
        out = out.filter(mask)
    return out if columns is None else out.select(columns)


def card_of(table: DeltaTable) -> dict[str, Any]:
    """The JSON card latentops keeps in the Delta table description."""
    desc = table.metadata().description
    try:
        return json.loads(desc) if desc else {}
    except json.JSONDecodeError as exc:
        raise CorruptArtifactError(
            f"table {table.table_uri} has an unreadable card: {exc}"
        ) from exc


def retry_commit(action: Callable[[], Any], what: str) -> Any:
    """Run ``action`` (which re-reads its table) until its commit wins the race."""
    for attempt in range(MAX_COMMIT_ATTEMPTS):
        try:
            return action()
        except CommitFailedError:
            time.sleep(min(0.5, 0.01 * 2**attempt))
    raise VersionConflictError(
        f"{what}: {MAX_COMMIT_ATTEMPTS} commits in a row lost to concurrent writers; retry later"
    )


def insert_new(uri: str, data: pa.Table, match: str, run_id: str | None, operation: str) -> int:
    """Insert rows of ``data`` whose key (``match`` predicate on t/s) is absent; return count."""

    def attempt() -> int:
        table = delta_table(uri)
        with reaching(uri, "commit to"), scanning(uri):
            metrics = (
                table.merge(
                    data,
                    predicate=match,
                    source_alias="s",
                    target_alias="t",
                    commit_properties=commit_props(run_id, operation),
                    post_commithook_properties=KEEP_LOG,
                )
                .when_not_matched_insert_all()
                .execute()
            )
        return int(metrics["num_target_rows_inserted"])

    return retry_commit(attempt, f"writing {len(data)} rows to {uri}")


def add_columns(uri: str, fields: list[pa.Field], run_id: str | None, operation: str) -> None:
    """Add the ``fields`` the table lacks (null in every row) in one commit; keep its card.

    A merge with schema evolution would add them too, but delta-rs then drops the table's
    description, which holds our card.
    """
    from deltalake.schema import Field

    def attempt() -> None:
        table = delta_table(uri)
        have = set(table.schema().to_arrow().names)
        new = [Field.from_arrow(f) for f in fields if f.name not in have]
        if new:
            with reaching(uri, "commit to"):
                table.alter.add_columns(
                    new,
                    commit_properties=commit_props(run_id, operation),
                    post_commithook_properties=KEEP_LOG,
                )

    retry_commit(attempt, f"adding columns {[f.name for f in fields]} to {uri}")


def update_matched(
    uri: str, data: pa.Table, match: str, columns: list[str], run_id: str | None, operation: str
) -> int:
    """Set ``columns`` from ``data`` on rows matching ``match`` in one commit; return the count."""
    updates = {c: f"s.{c}" for c in columns}

    def attempt() -> int:
        table = delta_table(uri)
        with reaching(uri, "commit to"), scanning(uri):
            metrics = (
                table.merge(
                    data,
                    predicate=match,
                    source_alias="s",
                    target_alias="t",
                    commit_properties=commit_props(run_id, operation),
                    post_commithook_properties=KEEP_LOG,
                )
                .when_matched_update(updates=updates)
                .execute()
            )
        return int(metrics["num_target_rows_updated"])

    return retry_commit(attempt, f"updating {len(data)} rows of {uri}")
