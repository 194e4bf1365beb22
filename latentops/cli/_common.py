"""Shared CLI plumbing: the console, the --store option, Arrow tables rendered with rich."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import typer
from rich.console import Console
from rich.table import Table

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
    """Keep Prefect's own logging to warnings so rich output stays readable."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
    # No network at run time: the ephemeral Prefect server must not phone home.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


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
