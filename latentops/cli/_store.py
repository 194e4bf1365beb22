"""CLI commands for the store over time: tags and pins of table versions, and ``maintain``."""

from __future__ import annotations

import pyarrow as pa
import typer
from rich.text import Text

from latentops._units import size as _size
from latentops.cli._common import StoreOpt, console, err_console, show_table
from latentops.cli._query import tables_app


@tables_app.command("tag")
def tables_tag(
    table: str = typer.Argument(..., help="Latent table name."),
    version: int = typer.Argument(..., help="Table version to pin."),
    name: str = typer.Argument(..., help="Tag name (letters, digits, '_' or '-')."),
    store: str | None = StoreOpt,
) -> None:
    """Tag a latent table version: `maintain` keeps every file it needs (time travel works).

    Example: latentops tables tag dsprites_vae_v1 3 paper-figures
    """
    from latentops.storage import Store

    s = Store.open(store, create=False)
    new = s.tags.tag(s, table, version, name, None)
    what = "tagged" if new else "already tagged"
    console.print(Text(f"{what} {table} version {version} as {name!r}"))


@tables_app.command("untag")
def tables_untag(
    table: str = typer.Argument(..., help="Latent table name."),
    name: str = typer.Argument(..., help="Tag to remove."),
    store: str | None = StoreOpt,
) -> None:
    """Remove a tag; its version stays pinned only if something else refers to it.

    Example: latentops tables untag dsprites_vae_v1 paper-figures
    """
    from latentops.storage import Store

    s = Store.open(store, create=False)
    s.latent_table(table)
    version = s.tags.untag(table, name, None)
    console.print(Text(f"removed tag {name!r} of {table} version {version}"))


@tables_app.command("pins")
def tables_pins(
    table: str = typer.Argument(..., help="Latent table name."), store: str | None = StoreOpt
) -> None:
    """List the pinned versions of a latent table and why (direction, score, edit, tag).

    Example: latentops tables pins dsprites_vae_v1
    """
    from latentops.storage import Store
    from latentops.storage.pins import pins

    found = pins(Store.open(store, create=False), table)
    if not found:
        console.print(Text(f"no version of {table} is pinned; tag one with `latentops tables tag`"))
        return
    rows = [{"version": p.version, "pinned_by": p.kind, "ref": p.ref} for p in found]
    show_table(pa.Table.from_pylist(rows), title=f"pinned versions of {table}")


def maintain(
    older_than: str = typer.Option(
        "7d", "--older-than", help="Keep every version newer than this (e.g. 7d, 12h, 0)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only print the files vacuum would remove; change nothing."
    ),
    table: str = typer.Option(
        None, "--table", "-t", help="Only this table (latents/NAME, NAME or a top table)."
    ),
    store: str | None = StoreOpt,
) -> None:
    """Compact small files, checkpoint logs, vacuum files no kept version needs.

    Kept: the newest version, every pinned version (`latentops tables pins`), and every
    version newer than --older-than. Time travel to those keeps working.

    Examples:
      latentops maintain --dry-run
      latentops maintain --older-than 30d --table dsprites_vae_v1
    """
    from latentops.errors import CorruptArtifactError
    from latentops.storage import Store
    from latentops.storage.maintain import maintain_store, parse_age

    window = parse_age(older_than)  # before the store is opened: a typo changes nothing
    s = Store.open(store, create=False)
    reports = maintain_store(s, table=table, older_than=window, dry_run=dry_run)
    for r in reports:
        if r.problem is not None:
            err_console.print(Text(f"{r.table}: {r.problem}", style="red"), soft_wrap=True)
            continue
        removed = f"{len(r.vacuum_files)} files ({_size(r.vacuum_bytes)})"
        log = f"{len(r.log_files)} log entries ({_size(r.log_bytes)})"
        if dry_run:
            console.print(Text(f"{r.table}: would remove {removed} and {log}"))
            for name in r.vacuum_files + [f"_delta_log/{n}" for n in r.log_files]:
                console.print(Text(f"  {name}"))
            continue
        after = r.after or r.before
        line = (
            f"{r.table}: compacted {r.compacted_removed} small files into {r.compacted_added}, "
            f"checkpoint at v{r.checkpoint}, removed {removed} and {log}, kept "
            f"{len(r.retained_versions)} "
            f"versions ({len(r.pinned_versions)} pinned); now {after.files} files, "
            f"{_size(after.bytes)} (was {r.before.files}, {_size(r.before.bytes)})"
        )
        console.print(Text(line + (f"; {r.note}" if r.note else "")))
    bad = [r.table for r in reports if r.problem is not None]
    if bad:
        raise CorruptArtifactError(
            f"{len(bad)} of {len(reports)} tables were left alone ({', '.join(bad)}); repair "
            "them as `latentops tables check` prints, then run maintain again"
        )


def register(app: typer.Typer) -> None:
    """Attach ``maintain`` to the root app (the tables subcommands attach on import)."""
    app.command()(maintain)
