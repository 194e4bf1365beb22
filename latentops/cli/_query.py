"""CLI commands that read the store: tables, sql."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import typer

from latentops.cli._common import StoreOpt, console, show_card, show_table, write_table

tables_app = typer.Typer(help="List latent tables and their versions.", invoke_without_command=True)


@tables_app.callback()
def tables_list(ctx: typer.Context, store: Path = StoreOpt) -> None:
    """List latent tables: rows, d, model, current version.

    Example: latentops tables
    """
    if ctx.invoked_subcommand:
        return
    from latentops.storage import Store

    s = Store.open(store)
    rows = []
    for name in s.latent_tables():
        t = s.latents(name)
        card = t.card
        rows.append(
            {"table": name, "rows": len(t.item_ids()), "d": card["d"], "model": card["model"],
             "dataset": card.get("dataset"), "version": t.version}
        )
    if not rows:
        console.print("no latent tables yet; run `latentops encode --model NAME`")
        return
    show_table(pa.Table.from_pylist(rows), title=f"latent tables in {s.root}")


@tables_app.command("show")
def tables_show(name: str = typer.Argument(..., help="Latent table name."), store: Path = StoreOpt) -> None:
    """Show a latent table's card and version history (time travel targets).

    Example: latentops tables show dsprites_vae_v1
    """
    from latentops.storage import Store

    table = Store.open(store).latent_table(name)
    show_card(table.card, f"latents/{name}")
    show_table(pa.Table.from_pylist(table.history()), title="versions (newest first)")


def sql(
    query: str = typer.Argument(..., help="A read-only SQL query (SELECT)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json or parquet."),
    out: Path = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
    store: Path = StoreOpt,
) -> None:
    """Run read-only SQL over the store (latents.<name>, models, directions, ...).

    Example: latentops sql "SELECT shape, avg(list_extract(z, 1)) FROM latents.dsprites_vae_v1 GROUP BY 1"
    """
    from latentops.storage import Store

    write_table(Store.open(store).sql(query), fmt, out)


def register(app: typer.Typer) -> None:
    """Attach these commands to the root app."""
    app.add_typer(tables_app, name="tables")
    app.command()(sql)
