"""DuckDB over the store: every Delta table is a view, latentops macros, read-only user SQL.

Macros (created on every connection, see ``MACROS``): distances and kNN by cosine / L2 /
inner product, direction vectors, projection and edits, N(0, I) prior measures, reports.
Direction lookups are scalar subqueries on the ``direction_vectors`` view: with a constant
reference DuckDB runs the subquery once per query (not per row), so ``project(z, 'smile@3')``
costs one dot product per row, nearly as fast as passing the vector yourself.

User queries are checked read-only, run under a finite timeout, and can stream their result
in Arrow batches (``stream_user_query``) so the memory limit bounds the result too; spills go
to a temporary folder of latentops' own that DuckDB removes when the connection closes.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa

from latentops.errors import CorruptArtifactError, InvalidInputError, LatentOpsError
from latentops.storage import _delta

# Statement types a user query may contain (everything else writes, attaches or configures).
_ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
# EXPLAIN ANALYZE runs its statement, so EXPLAIN is only allowed in front of a SELECT.
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALYZE\s+|\([^)]*\)\s*)?", re.IGNORECASE)
VECTOR_COLUMNS = ("z", "z_logvar", "z_edit")
# What a user can query on a connection (our registered Arrow scans are hidden).
TABLES_QUERY = (
    "SELECT table_schema AS schema, table_name AS name, lower(table_type) AS type "
    "FROM information_schema.tables WHERE NOT starts_with(table_name, '__') ORDER BY 1, 2"
)
METRICS = ("cosine", "l2", "ip")
BATCH_ROWS = 65_536  # rows per streamed result batch


class QueryTimeoutError(LatentOpsError, TimeoutError):
    """A user query ran past its timeout and was interrupted."""


_NO_DIRECTIONS = (
    "CREATE VIEW direction_vectors AS SELECT NULL::VARCHAR AS ref, NULL::VARCHAR AS name, "
    "NULL::BIGINT AS version, NULL::BIGINT AS d, NULL::FLOAT[] AS vector, NULL::BOOLEAN AS latest "
    "WHERE false"
)
# One row per direction version: ref 'name@v', and whether it is the name's latest version
# (direction('name') looks the latest one up).
_DIRECTIONS = """
CREATE VIEW direction_vectors AS
SELECT name || '@' || version AS ref, name, version, d, vector::FLOAT[] AS vector,
       version = max(version) OVER (PARTITION BY name) AS latest
FROM directions
"""

MACROS = (
    # Distance between two vectors (FLOAT[d] arrays or lists); lower is closer. 'cosine' is
    # 1 - cos, 'l2' the Euclidean distance, 'ip' the negative inner product.
    """CREATE MACRO knn_distance(a, b, metric := 'cosine') AS CASE lower(metric)
        WHEN 'cosine' THEN list_cosine_distance(a::FLOAT[], b::FLOAT[])
        WHEN 'l2' THEN list_distance(a::FLOAT[], b::FLOAT[])
        WHEN 'ip' THEN list_negative_inner_product(a::FLOAT[], b::FLOAT[])
        ELSE error('unknown metric ''' || metric || '''; use cosine, l2 or ip') END""",
    "CREATE MACRO l2_norm(z) AS sqrt(list_inner_product(z::FLOAT[], z::FLOAT[]))",
    # A kNN query vector as FLOAT[], or an error: a NULL, NaN or (for cosine) zero query has
    # no distances and would return arbitrary rows. A constant query is checked once.
    """CREATE MACRO knn_query(q, metric := 'cosine') AS CASE
        WHEN q IS NULL THEN error('the query vector is NULL; pass a list of d numbers')
        WHEN len(list_filter(q::FLOAT[], lambda x: x IS NULL OR NOT isfinite(x))) > 0
            THEN error('the query vector holds NULL, NaN or inf values; pass finite numbers')
        WHEN lower(metric) = 'cosine' AND list_inner_product(q::FLOAT[], q::FLOAT[]) = 0
            THEN error('a zero query vector has no cosine distance; use metric l2 or ip')
        ELSE q::FLOAT[] END""",
    # k nearest rows of a table (or CTE) by name; filter first with a CTE to get k matches.
    """CREATE MACRO knn(tbl, q, k, metric := 'cosine') AS TABLE
        SELECT *, knn_distance(z, knn_query(q, metric), metric) AS distance
        FROM query_table(tbl)
        ORDER BY distance, item_id LIMIT k""",
    # k nearest neighbours of one item of the table, the item itself left out.
    """CREATE MACRO knn_item(tbl, item, k, metric := 'cosine') AS TABLE
        SELECT t.*, knn_distance(t.z, knn_query(coalesce(
            (SELECT s.z FROM query_table(tbl) s WHERE s.item_id = item),
            error('item_id ' || item || ' is not in ' || tbl)), metric), metric) AS distance
        FROM query_table(tbl) t WHERE t.item_id <> item
        ORDER BY distance, t.item_id LIMIT k""",
    # k nearest rows for each row (query_id, vector) of a query table, in one scan. min_by
    # keeps only ids (packing structs costs a third of the time); the k winners' distances
    # are recomputed after.
    """CREATE MACRO knn_batch(tbl, queries, k, metric := 'cosine') AS TABLE
        WITH __knn_q AS (
            SELECT query_id, knn_query(vector, metric) AS vector FROM query_table(queries)),
        __knn_top AS (
            SELECT q.query_id, min_by(t.item_id, knn_distance(t.z, q.vector, metric), k) AS ids
            FROM __knn_q q, query_table(tbl) t GROUP BY q.query_id),
        __knn_hits AS (
            SELECT query_id, unnest(ids) AS item_id, unnest(range(1, len(ids) + 1)) AS rank
            FROM __knn_top)
        SELECT h.query_id, h.rank, h.item_id, knn_distance(t.z, q.vector, metric) AS distance
        FROM __knn_hits h JOIN __knn_q q USING (query_id)
        JOIN query_table(tbl) t ON t.item_id = h.item_id
        ORDER BY h.query_id, h.rank""",
    # Unit vector of a direction 'name@v' (or the latest 'name'), as FLOAT[].
    """CREATE MACRO direction(dir_ref) AS coalesce(
        (SELECT dv.vector FROM direction_vectors dv
         WHERE dv.ref = dir_ref OR (dv.name = dir_ref AND dv.latest)),
        error('unknown direction ''' || dir_ref || '''; list them with '
              || 'SELECT ref FROM direction_vectors'))""",
    # Signed length of z along a direction (directions are stored with unit norm).
    "CREATE MACRO project(z, dir_ref) AS list_dot_product(z::FLOAT[], direction(dir_ref))",
    # The edit z + strength * v of the edit flows, as FLOAT[] (list_zip would pad a z of
    # another length with NULLs, so lengths are checked first).
    """CREATE MACRO edit(z, dir_ref, strength) AS CASE
        WHEN len(z::FLOAT[]) <> len(direction(dir_ref)) THEN error(
            'edit: z has ' || len(z::FLOAT[]) || ' values but direction ''' || dir_ref
            || ''' has d=' || len(direction(dir_ref)) || '; edit latents of the same model')
        ELSE list_transform(list_zip(z::FLOAT[], direction(dir_ref)),
                            lambda p: (p[1] + strength * p[2])::FLOAT) END""",
    # log N(z; 0, I) = -|z|^2/2 - d/2 log(2 pi).
    """CREATE MACRO log_prior(z) AS
        -0.5 * list_inner_product(z::FLOAT[], z::FLOAT[]) - 0.5 * len(z) * ln(2 * pi())""",
    # |z| minus the mean radius of N(0, I_d) samples (the chi mean): > 0 outside the shell.
    """CREATE MACRO prior_shell_distance(z) AS
        l2_norm(z) - sqrt(2) * exp(lgamma((len(z) + 1) / 2) - lgamma(len(z) / 2))""",
    # Per value of a factor column: count, norm and per-dimension mean / std of z.
    """CREATE MACRO latent_stats(tbl, factor) AS TABLE
        SELECT value, any_value(n) AS n, any_value(mean_norm) AS mean_norm,
               list(mean ORDER BY dim) AS mean, list(std ORDER BY dim) AS std
        FROM (SELECT value, dim, avg(x) AS mean, stddev_pop(x) AS std,
                     count(*) AS n, avg(norm) AS mean_norm
              FROM (SELECT struct_extract(t, factor) AS value, l2_norm(t.z) AS norm,
                           unnest(t.z::FLOAT[]) AS x, generate_subscripts(t.z::FLOAT[], 1) AS dim
                    FROM query_table(tbl) t)
              GROUP BY value, dim)
        GROUP BY value ORDER BY value""",
)

# Per direction and metric of the scores table: how the score moves with edit strength
# (model-level rows, with no direction, are left out).
# DuckDB binds table macros when they are created, so this one needs the scores table.
_SCORE_SUMMARY = """CREATE MACRO score_summary() AS TABLE
    SELECT direction, metric, count(*) AS n, count(DISTINCT strength) AS n_strengths,
           min(strength) AS min_strength, max(strength) AS max_strength,
           avg(value) AS mean, min(value) AS min, max(value) AS max,
           regr_slope(value, strength) AS slope, corr(value, strength) AS corr
    FROM scores WHERE direction IS NOT NULL
    GROUP BY direction, metric ORDER BY direction, metric"""


# Item ids inserted / removed between two versions of a latent table: the UDF behind it
# reads the Delta log (Python, outside DuckDB's sandbox, confined to the store's tables).
_LATENT_DELTA = """CREATE MACRO latent_delta(tbl, v1, v2) AS TABLE
    SELECT unnest(__delta, recursive := true)
    FROM (SELECT __latent_delta(tbl, v1, v2) AS __delta)"""
_UDF_ERROR = re.compile(r"Python exception occurred while executing the UDF: \w+: (.*)", re.S)


# Per-item distance between two latent tables of the same items after a Procrustes alignment.
_LATENT_SHIFT = """CREATE MACRO latent_shift(t1, t2) AS TABLE
    SELECT unnest(__shift, recursive := true)
    FROM (SELECT __latent_shift(t1, t2) AS __shift)"""


def add_latent_shift(con: duckdb.DuckDBPyConnection, shift: Callable[[str, str], pa.Table]) -> None:
    """Create ``latent_shift('t1', 't2')``; ``shift(t1, t2)`` gives (item_id, shift)."""

    def udf(t1: str, t2: str) -> list[dict[str, Any]]:
        return shift(t1.removeprefix("latents."), t2.removeprefix("latents.")).to_pylist()

    con.create_function(
        "__latent_shift",
        udf,
        ["VARCHAR", "VARCHAR"],
        "STRUCT(item_id BIGINT, shift DOUBLE)[]",
        side_effects=False,
    )
    con.execute(_LATENT_SHIFT)


def add_latent_delta(
    con: duckdb.DuckDBPyConnection, delta: Callable[[str, int, int], pa.Table]
) -> None:
    """Create ``latent_delta('t', v1, v2)``; ``delta(name, v1, v2)`` gives (item_id, change)."""

    def udf(table: str, v1: int, v2: int) -> list[dict[str, Any]]:
        return delta(table.removeprefix("latents."), v1, v2).to_pylist()

    con.create_function(
        "__latent_delta",
        udf,
        ["VARCHAR", "BIGINT", "BIGINT"],
        "STRUCT(item_id BIGINT, change VARCHAR)[]",
        side_effects=False,
    )
    con.execute(_LATENT_DELTA)


def connect(
    sources: Mapping[str, tuple[Any, int | None]],
    *,
    memory_limit: str | None = None,
    materialize: Collection[str] = (),
) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with one view per table: ``sources`` maps view name -> (arrow data, d).

    Latent tables are named ``latents.<name>`` and expose ``z`` as FLOAT[d] so DuckDB's
    array_* distance functions work on it directly. Names in ``materialize`` become in-memory
    tables instead of views: loaded once, then every query on the connection skips Parquet.
    """
    con = duckdb.connect(":memory:")
    # Spills go to a folder of our own, not DuckDB's default ./.tmp in the caller's working
    # directory; DuckDB creates it on the first spill and removes it when the connection closes.
    spill = os.path.join(tempfile.gettempdir(), f"latentops-sql-{os.getpid()}-{uuid.uuid4().hex}")
    con.execute("SET temp_directory = ?", [spill])
    if memory_limit:
        try:
            con.execute("SET memory_limit = ?", [memory_limit])
        except duckdb.Error as exc:
            raise InvalidInputError(
                f"memory_limit={memory_limit!r} is not a size DuckDB understands "
                f"({_one_line(str(exc))}); "
                "pass e.g. '2GB' or '500MB'"
            ) from None
    con.execute("CREATE SCHEMA IF NOT EXISTS latents")
    for i, (view, (data, d)) in enumerate(sorted(sources.items())):
        arrow_name = f"__arrow_{i}"
        con.register(arrow_name, data)
        schema, _, table = view.rpartition(".")
        target = f'"{schema}"."{table}"' if schema else f'"{table}"'
        cols = ", ".join(
            f'"{c}"::FLOAT[{int(d)}] AS "{c}"' if d and c in VECTOR_COLUMNS else f'"{c}"'
            for c in data.schema.names
        )
        kind = "TABLE" if view in materialize else "VIEW"
        try:  # a TABLE reads every data file now
            con.execute(f"CREATE {kind} {target} AS SELECT {cols} FROM {arrow_name}")
        except duckdb.Error as exc:
            con.close()
            raise _query_error(exc, None) from None
        if kind == "TABLE":
            con.unregister(arrow_name)
    con.execute(_DIRECTIONS if "directions" in sources else _NO_DIRECTIONS)
    for macro in MACROS:
        con.execute(macro)
    _score_summary(con, "scores" in sources)
    return con


def _score_summary(con: duckdb.DuckDBPyConnection, have_scores: bool) -> None:
    """Create score_summary(), or a stand-in that explains why it cannot run."""
    if have_scores:
        try:
            con.execute(_SCORE_SUMMARY)
            return
        except duckdb.Error as exc:
            why = (
                f"the scores table lacks what score_summary() reads ({exc}); it needs "
                "direction, metric, strength and value columns"
            )
    else:
        why = "no scores table yet; score edits first (latentops evaluate)"
    con.execute(f"CREATE MACRO score_summary() AS TABLE SELECT error({_literal(why)}) AS error")


def _literal(text: str) -> str:
    """A SQL string literal (for DDL, where parameters cannot be bound)."""
    return "'" + text.replace("'", "''") + "'"


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Forbid file access, extension loading and further configuration changes."""
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def _kind(stmt: Any) -> str:
    return str(stmt.type).rpartition(".")[2]


def check_read_only(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Raise InvalidInputError unless every statement in ``query`` is a SELECT/EXPLAIN."""
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise InvalidInputError(f"SQL does not parse: {exc}") from None
    if not statements:
        raise InvalidInputError("empty SQL query; try: SELECT * FROM models")
    for stmt in statements:
        kind = _kind(stmt)
        if stmt.type == duckdb.StatementType.EXPLAIN:
            try:
                inner = con.extract_statements(_EXPLAIN.sub("", stmt.query, count=1))
            except duckdb.Error:
                inner = []
            if len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT:
                continue
            kind = "EXPLAIN of non-SELECT"
        elif stmt.type in _ALLOWED:
            continue
        raise InvalidInputError(
            f"{kind} statements are not allowed: store SQL is read-only (SELECT only); "
            "write through latentops commands instead"
        )


def check_timeout(timeout: float | None) -> float | None:
    """Return ``timeout`` if it is None or a finite number of seconds > 0."""
    if timeout is None:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not (math.isfinite(timeout) and timeout > 0)
    ):
        raise InvalidInputError(
            f"timeout={timeout!r} must be a finite number of seconds > 0, e.g. 30; "
            "leave it out for no timeout"
        )
    return float(timeout)


def _query_error(exc: BaseException, timeout: float | None) -> LatentOpsError:
    """The LatentOpsError for a failed query (DuckDB raises its own classes before the first
    batch, and an OSError carrying DuckDB's message while batches stream)."""
    text = str(exc)
    if isinstance(exc, duckdb.InterruptException) or text.startswith("INTERRUPT Error"):
        return QueryTimeoutError(
            f"query interrupted after timeout={timeout} s; narrow it (WHERE, LIMIT) "
            "or raise the timeout (--timeout)"
        )
    if isinstance(exc, duckdb.PermissionException) or text.startswith("Permission Error"):
        return InvalidInputError(
            f"SQL failed: store SQL cannot read or write files, load extensions or change "
            f"settings ({_one_line(text)}); query the store's views instead (SHOW ALL TABLES "
            "lists them)"
        )
    if isinstance(exc, duckdb.OutOfMemoryException) or text.startswith("Out of Memory Error"):
        return InvalidInputError(
            f"query ran out of memory under the connection's memory limit "
            f"({_one_line(text).partition(' Possible solutions')[0]}); narrow it or raise "
            "--memory-limit"
        )
    raised = _UDF_ERROR.search(text)
    if (
        raised
    ):  # a latentops function (latent_delta, latent_shift) refused: its own message says why
        return InvalidInputError(f"SQL failed: {_one_line(raised.group(1))}")
    path = _delta.missing_file(text)
    if path:
        return CorruptArtifactError(
            f"SQL failed: data file {path} of the store is missing; run "
            "`latentops tables check` to see which table it belongs to and how to repair it"
        )
    return InvalidInputError(f"SQL failed: {_one_line(text)}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


@contextmanager
def _deadline(con: duckdb.DuckDBPyConnection, timeout: float | None) -> Iterator[None]:
    """Interrupt ``con`` after ``timeout`` seconds (DuckDB has no per-query timeout)."""
    timer = threading.Timer(timeout, con.interrupt) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer:
            timer.cancel()


def _checked_batches(
    reader: pa.RecordBatchReader, timeout: float | None
) -> Iterator[pa.RecordBatch]:
    """The reader's batches, with a failure while streaming turned into a LatentOpsError."""
    batches = iter(reader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (duckdb.Error, OSError) as exc:
            raise _query_error(exc, timeout) from None
        yield batch


@contextmanager
def stream_user_query(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: Sequence[Any] | None = None,
    *,
    timeout: float | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    """Check ``query`` is read-only, run it, and yield (schema, batches) as DuckDB makes them.

    The result never sits in memory whole, so the connection's memory limit bounds a query
    and its result together; ``timeout`` covers running and streaming.
    """
    timeout = check_timeout(timeout)
    check_read_only(con, query)
    with _deadline(con, timeout):
        try:
            result = con.sql(query, params=list(params) if params else None)
            # only statements without a result set have none, and check_read_only refuses those
            reader = (
                result.to_arrow_reader(batch_rows)
                if result is not None
                else pa.RecordBatchReader.from_batches(pa.schema([]), [])
            )
        except duckdb.Error as exc:
            raise _query_error(exc, timeout) from None
        yield reader.schema, _checked_batches(reader, timeout)


def run_query(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: Sequence[Any] | None = None,
    *,
    timeout: float | None = None,
) -> pa.Table:
    """Execute a (checked) query and return Arrow, turning DuckDB errors into LatentOpsError."""
    timeout = check_timeout(timeout)
    with _deadline(con, timeout):
        try:
            result = con.sql(query, params=list(params) if params else None)
            return result.to_arrow_table() if result is not None else pa.table({})
        except duckdb.Error as exc:
            raise _query_error(exc, timeout) from None


def run_user_query(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: Sequence[Any] | None = None,
    *,
    timeout: float | None = None,
) -> pa.Table:
    """Check that ``query`` is read-only, then run it (with an optional timeout)."""
    check_read_only(con, query)
    return run_query(con, query, params, timeout=timeout)


def check_condition(con: duckdb.DuckDBPyConnection, where: str) -> str:
    """Return ``where`` if it parses as exactly one SQL expression (no clauses, statements)."""
    parsed = json.loads(
        con.execute("SELECT json_serialize_sql(?)", [f"SELECT {where}\n"]).fetchall()[0][0]
    )
    statements = parsed.get("statements") or []
    node = statements[0]["node"] if len(statements) == 1 else {}
    select_list = node.get("select_list") or []
    one_expression = (
        node.get("type") == "SELECT_NODE"
        and len(select_list) == 1
        and select_list[0].get("class") != "STAR"
        and not select_list[0].get("alias")
        and (node.get("from_table") or {}).get("type") == "EMPTY"
        and not any(node.get(k) for k in ("where_clause", "having", "qualify", "sample"))
        and not any(node.get(k) for k in ("modifiers", "group_expressions", "group_sets"))
        and not (node.get("cte_map") or {}).get("map")
    )
    example = 'e.g. "shape = 2 AND scale > 3"'
    if parsed.get("error"):
        raise InvalidInputError(
            f"--where {where!r} does not parse ({_one_line(parsed.get('error_message', ''))}); "
            f"pass one condition on the table's columns, {example}"
        )
    if not one_expression:
        raise InvalidInputError(
            f"--where {where!r} must be one condition on the table's columns (no clauses, "
            f"aliases or further statements), {example}"
        )
    return where


def filter_ids_query(view: str, where: str) -> str:
    """SELECT the item_ids of a latent view that match a (check_condition-ed) WHERE clause."""
    schema, _, table = view.rpartition(".")
    # the newline ends a trailing -- comment before the closing parenthesis
    return f'SELECT item_id FROM "{schema}"."{table}" WHERE (\n{where}\n)'
