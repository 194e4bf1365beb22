"""DuckDB over the store: every Delta table is a view; user SQL is read-only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from latentops.errors import InvalidInputError

# Statement types a user query may contain (everything else writes, attaches or configures).
_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def connect(
    sources: Mapping[str, tuple[Any, int | None]], *, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with one view per table: ``sources`` maps view name -> (arrow dataset, d).

    Latent tables are named ``latents.<name>`` and expose ``z`` as FLOAT[d] so DuckDB's
    array_* distance functions work on it directly.
    """
    con = duckdb.connect(":memory:")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("CREATE SCHEMA IF NOT EXISTS latents")
    for i, (view, (dataset, d)) in enumerate(sorted(sources.items())):
        arrow_name = f"__arrow_{i}"
        con.register(arrow_name, dataset)
        schema, _, table = view.rpartition(".")
        target = f'"{schema}"."{table}"' if schema else f'"{table}"'
        if d:
            names = dataset.schema.names
            cols = ", ".join(
                f'"{c}"::FLOAT[{int(d)}] AS "{c}"' if c in ("z", "z_logvar", "z_edit") else f'"{c}"'
                for c in names
            )
            con.execute(f"CREATE VIEW {target} AS SELECT {cols} FROM {arrow_name}")
        else:
            con.execute(f"CREATE VIEW {target} AS SELECT * FROM {arrow_name}")
    return con


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Forbid file access, extension loading and further configuration changes."""
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def check_read_only(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Raise InvalidInputError unless every statement in ``query`` is a SELECT/EXPLAIN."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise InvalidInputError(f"SQL does not parse: {exc}") from None
    if not statements:
        raise InvalidInputError("empty SQL query; try: SELECT * FROM models")
    for stmt in statements:
        if stmt.type not in _ALLOWED:
            kind = str(stmt.type).rpartition(".")[2]
            raise InvalidInputError(
                f"{kind} statements are not allowed: store SQL is read-only (SELECT only); "
                "write through latentops commands instead"
            )


def run_query(
    con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] | None = None
) -> pa.Table:
    """Execute a (checked) query and return Arrow, turning DuckDB errors into LatentOpsError."""
    try:
        result = con.sql(query, params=list(params) if params else None)
    except duckdb.Error as exc:
        raise InvalidInputError(f"SQL failed: {exc}") from None
    if result is None:  # only statements without a result set, which check_read_only refuses
        return pa.table({})
    try:
        return result.to_arrow_table()
    except duckdb.Error as exc:
        raise InvalidInputError(f"SQL failed: {exc}") from None
