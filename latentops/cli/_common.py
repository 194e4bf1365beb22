"""Shared CLI plumbing: the console, the --store option, Arrow tables rendered with rich."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table

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


def show_table(table: pa.Table, title: str | None = None, max_rows: int = 50) -> None:
    """Print an Arrow table as a rich table (first ``max_rows`` rows)."""
    view = Table(title=title, show_lines=False, header_style="bold cyan")
    for name in table.column_names:
        view.add_column(name, overflow="fold")
    for row in table.slice(0, max_rows).to_pylist():
        view.add_row(*(_cell(row[c]) for c in table.column_names))
    console.print(view)
    if table.num_rows > max_rows:
        console.print(f"[dim]… {table.num_rows - max_rows} more rows[/dim]")


def write_table(table: pa.Table, fmt: str, out: Path | None) -> None:
    """Write an Arrow table as table/csv/json/parquet to ``out`` or stdout."""
    if fmt == "table":
        show_table(table, max_rows=10_000 if out is None else 50)
        return
    if fmt == "parquet":
        if out is None:
            raise typer.BadParameter("--format parquet needs --out FILE")
        import pyarrow.parquet as pq

        pq.write_table(table, out)
        console.print(f"wrote {table.num_rows} rows to {out}")
        return
    if fmt == "csv":
        import pyarrow.csv as pacsv

        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        text = sink.getvalue().to_pybytes().decode()
    elif fmt == "json":
        text = json.dumps(table.to_pylist(), default=str, indent=1)
    else:
        raise typer.BadParameter(f"unknown --format {fmt!r}; use table, csv, json or parquet")
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        out.write_text(text)
        console.print(f"wrote {table.num_rows} rows to {out}")


def show_card(card: dict[str, Any], title: str) -> None:
    """Print a JSON card with a title."""
    console.rule(title)
    console.print_json(json.dumps(card, default=str))
