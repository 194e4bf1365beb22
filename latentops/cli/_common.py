"""Shared CLI plumbing: the console, the --store option, Arrow results printed or written.

Everything that comes from data (cells, column names, titles, paths) is printed as rich
``Text``, never parsed as markup: a value like ``[/x]`` or ``[link=...]`` prints as it is.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from latentops.errors import LatentOpsError

console = Console()
err_console = Console(stderr=True)

StoreOpt = typer.Option(
    None,
    "--store",
    "-s",
    envvar="LATENTOPS_STORE",
    help="Latent store: a directory or s3://bucket/prefix (default ./latent-store).",
    show_default=False,
)
RunnerOpt = typer.Option(
    "thread", "--runner", help="thread, or dask to shard the work's chunks over a Dask cluster."
)
DaskAddressOpt = typer.Option(
    None, "--dask-address", help="Scheduler of an existing cluster (default: a local one)."
)
DaskWorkersOpt = typer.Option(2, "--dask-workers", help="Workers of the local Dask cluster.")
DeviceOpt = typer.Option(
    None, "--device", help="torch device, e.g. cpu or cuda:0 (default: cuda if present)."
)


def quiet_prefect() -> None:
    """Ready this process to run flows: the machine's shared Prefect API, one-line errors.

    Call it once a command has checked its input and before it imports a flow, so bad input
    never waits for Prefect. Prefect's console logging of a LatentOpsError is dropped (``main``
    prints it as one line); the API's flow-run logs keep the trace, and so does ``--debug``.
    """
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # No network at run time: a Prefect server latentops starts must not phone home.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from latentops.flows.local_api import ensure_api

    ensure_api()
    if not _debug:
        _drop_error_logs()


_debug = False  # the root --debug option (Typer runs commands outside click's context stack)


def set_debug(on: bool) -> None:
    """Record ``--debug``: Prefect's own failure logs (with traces) then stay on the console."""
    global _debug
    _debug = on


class _OneLineErrors(logging.Filter):
    """Drops Prefect's console records of a LatentOpsError: the CLI prints it as one line."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, LatentOpsError):
            self._seen.add(f"{type(exc).__name__}: {exc}")
            return False
        # A task's "Finished in state Failed('... NotFoundError: msg')" comes without exc_info.
        message = record.getMessage() if record.levelno >= logging.ERROR and self._seen else ""
        return not any(seen in message for seen in self._seen)


def _drop_error_logs() -> None:
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()  # now, not at the flow's import, which would replace our handlers

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, _OneLineErrors) for f in handler.filters
        ):
            handler.addFilter(_OneLineErrors())


def check_runner(runner: str, dask_address: str | None) -> None:
    """--runner / --dask-address, checked before Prefect starts (the runner is built later)."""
    from latentops.flows.params import check_runner as check  # pydantic only, no Prefect

    check(runner, dask_address or None)


def check_exists(
    store: str | None,
    *,
    tables: Iterable[str] = (),
    table_version: int | None = None,
    models: Iterable[str] = (),
    directions: Iterable[str] = (),
    judges: Iterable[str] = (),
) -> Any:
    """Open an existing store and check the named artifacts are in it, before Prefect starts.

    Each missing one raises the registry's own NotFoundError (it names the fix), so a
    mistyped name answers in seconds, not after a Prefect server and a flow run start.
    Returns the open Store.
    """
    from latentops.storage import Store

    opened = Store.open(store, create=False)
    for table in tables:
        opened.latent_table(table).schema(table_version)
    for ref in models:
        opened.models.card(ref)
    for ref in directions:
        opened.directions.row(ref)
    for ref in judges:
        opened.judges.card(ref)
    return opened


def default_threads() -> int:
    """Half the cores this process may use (at least 1): torch's default of all of them spins
    OpenMP threads against other work. On a 2-core machine with two busy processes, one thread
    ran a training epoch in 4.6-12.8 s where two took 7.1-43.6 s."""
    return max(1, len(os.sched_getaffinity(0)) // 2)


def set_threads(n: int | None) -> None:
    """Cap torch's and the BLAS/OpenMP libraries' threads: ``n``, else $OMP_NUM_THREADS, else
    ``default_threads()``. Exported so Dask workers and other children inherit it."""
    if n is None:
        if os.environ.get("OMP_NUM_THREADS"):
            return
        n = default_threads()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(n)
    torch = sys.modules.get("torch")  # already imported (tests call main in-process)
    if torch is not None:
        torch.set_num_threads(n)


FORMATS = ("table", "csv", "json", "parquet")


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list):
        head = ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value[:4])
        return f"[{head}{', …' if len(value) > 4 else ''}] ({len(value)})"
    return str(value)


def _values(column: pa.Array | pa.ChunkedArray, name: str) -> list[Any]:
    """Python values of a column; ones Python cannot hold (DuckDB's infinite dates) as text."""
    try:
        return column.to_pylist()
    except (OverflowError, ValueError, pa.ArrowException):
        pass
    try:
        return column.cast(pa.string(), safe=False).to_pylist()
    except pa.ArrowException:  # nested values have no text cast
        from latentops.errors import InvalidInputError

        quoted = name.replace('"', '""')
        raise InvalidInputError(
            f"column {name!r} holds values Python cannot represent (e.g. infinite dates); "
            f'turn them into text in the query, e.g. "{quoted}"::VARCHAR'
        ) from None


def _rows(batch: pa.RecordBatch | pa.Table) -> list[dict[str, Any]]:
    columns = {name: _values(batch.column(name), name) for name in batch.schema.names}
    return [{name: columns[name][i] for name in columns} for i in range(batch.num_rows)]


def show_table(table: pa.Table, title: str | None = None, max_rows: int = 50) -> None:
    """Print an Arrow table as a rich table (first ``max_rows`` rows)."""
    _show(table.schema, table.to_batches(), title, max_rows)


def _show(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], title: str | None, max_rows: int
) -> int:
    """Print the first ``max_rows`` rows of a stream of batches; return how many rows it had."""
    view = Table(title=Text(title) if title else None, show_lines=False, header_style="bold cyan")
    for name in schema.names:
        view.add_column(Text(name), overflow="fold")
    total = 0
    for batch in batches:
        room = max(0, max_rows - total)
        for row in _rows(batch.slice(0, room)) if room else ():
            view.add_row(*(Text(_cell(row[c])) for c in schema.names))
        total += batch.num_rows
    console.print(view)
    if total > max_rows:
        console.print(f"[dim]… {total - max_rows} more rows[/dim]")
    return total


def check_format(fmt: str, out: Path | None) -> None:
    """Refuse an unknown --format, or parquet without --out, before any work starts."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"unknown --format {fmt!r}; use table, csv, json or parquet")
    if fmt == "parquet" and out is None:
        raise typer.BadParameter("--format parquet needs --out FILE")


def write_table(table: pa.Table, fmt: str, out: Path | None) -> None:
    """Write an Arrow table as table/csv/json/parquet to ``out`` or stdout."""
    write_batches(table.schema, table.to_batches(), fmt, out)


def write_batches(
    schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: str, out: Path | None
) -> None:
    """Write a stream of Arrow batches as table/csv/json/parquet, one batch in memory at a time.

    A file is written under a temporary name and renamed when complete, so a failed query
    leaves no partial ``out``.
    """
    check_format(fmt, out)
    if fmt == "csv":
        _check_csv(schema)
    if fmt == "table":
        _show(schema, batches, None, 10_000 if out is None else 50)
        return
    if out is None:
        for chunk in _text_chunks(schema, batches, fmt):
            typer.echo(chunk, nl=False)
        return
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        n = _write_file(schema, batches, fmt, tmp)
        os.replace(tmp, out)
    except OSError as exc:
        from latentops.errors import InvalidInputError

        raise InvalidInputError(
            f"cannot write --out {out}: {exc.strerror or exc}; pick a writable file path"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    console.print(Text(f"wrote {n} rows to {out}"))


def _check_csv(schema: pa.Schema) -> None:
    """CSV holds flat values only: refuse list, struct and map columns naming the way out."""
    nested = [f.name for f in schema if pa.types.is_nested(f.type)]
    if nested:
        from latentops.errors import InvalidInputError

        first = nested[0].replace('"', '""')
        raise InvalidInputError(
            f"column(s) {nested} hold lists or structs, which CSV cannot; use --format json or "
            f'parquet, or turn them into text in the query (e.g. "{first}"::VARCHAR)'
        )


def _text_chunks(schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: str) -> Iterator[str]:
    """CSV (header once) or a JSON array of row objects, a batch at a time."""
    import pyarrow.csv as pacsv

    def csv_text(data: pa.RecordBatch | pa.Table, header: bool) -> str:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(data, sink, pacsv.WriteOptions(include_header=header))
        return sink.getvalue().to_pybytes().decode()

    n = 0
    if fmt == "csv":
        for batch in batches:
            yield csv_text(batch, n == 0)
            n += 1
        if n == 0:  # an empty result still gets its header
            yield csv_text(schema.empty_table(), True)
        return
    yield "["
    for batch in batches:
        rows = [json.dumps(row, default=str) for row in _rows(batch)]
        if rows:
            yield ("\n" if n == 0 else ",\n") + ",\n".join(rows)
            n += len(rows)
    yield "\n]\n" if n else "]\n"


def _write_file(schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: str, path: Path) -> int:
    """Write batches to ``path`` as parquet, csv or json; return the row count."""
    n = 0
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(path, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
                n += batch.num_rows
        return n
    with open(path, "w", encoding="utf-8") as fh:
        for chunk in _text_chunks(schema, _counted(batches, counter := [0]), fmt):
            fh.write(chunk)
    return counter[0]


def _counted(batches: Iterable[pa.RecordBatch], counter: list[int]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        counter[0] += batch.num_rows
        yield batch


def show_card(card: dict[str, Any], title: str) -> None:
    """Print a JSON card with a title."""
    console.rule(Text(title))
    console.print_json(json.dumps(card, default=str))


@contextmanager
def warnings_as_lines() -> Iterator[None]:
    """Print each CorruptTableWarning raised inside as one line on stderr (not Python's two)."""
    from latentops.errors import CorruptTableWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CorruptTableWarning)
        yield
    for w in caught:
        if issubclass(w.category, CorruptTableWarning):
            err_console.print(Text(f"warning: {w.message}", style="yellow"), soft_wrap=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
