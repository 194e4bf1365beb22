"""CLI commands that read the store: tables, sql (one query or a prompt), search, index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import typer
from rich.text import Text

from latentops.cli._common import (
    StoreOpt,
    check_format,
    console,
    err_console,
    show_card,
    show_table,
    warnings_as_lines,
    write_batches,
    write_table,
)

tables_app = typer.Typer(help="List latent tables and their versions.", invoke_without_command=True)
index_app = typer.Typer(
    help="Approximate kNN indexes (FAISS IVF / HNSW), one per latent table version.",
    no_args_is_help=True,
)

FormatOpt = typer.Option("table", "--format", "-f", help="table, csv, json or parquet.")
OutOpt = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout.")
_PROMPT_HELP = (
    "Read-only SQL over the store. End a statement with ';'. Views: latents.<name>, models, "
    "judges, directions, direction_vectors, edits, scores, tags. Macros: knn(tbl, q, k, metric), "
    "knn_item(tbl, item_id, k), knn_batch(tbl, queries, k), knn_distance(a, b, metric), "
    "project(z, 'name@v'), edit(z, 'name@v', s), direction('name@v'), log_prior(z), "
    "prior_shell_distance(z), l2_norm(z), latent_stats(tbl, factor), score_summary(), "
    "latent_delta('t', v1, v2). "
    "Commands: .tables, .help, .quit"
)


@tables_app.callback()
def tables_list(ctx: typer.Context, store: str | None = StoreOpt) -> None:
    """List latent tables: rows, d, model, current version, and storage: files, bytes (data
    and log), versions, pinned versions (`latentops maintain` reclaims the rest).

    Example: latentops tables
    """
    if ctx.invoked_subcommand:
        return
    from latentops.errors import LatentOpsError
    from latentops.storage import Store
    from latentops.storage.maintain import usage
    from latentops.storage.pins import pinned_versions

    s = Store.open(store, create=False)
    rows = []
    for name in s.latent_tables():
        t = s.latents(name)
        try:
            card = t.card
            used = usage(s.root / "latents" / name)
            rows.append(
                {
                    "table": name,
                    "rows": len(t.item_ids()),
                    "d": card.get("d"),
                    "model": card.get("model"),
                    "dataset": card.get("dataset"),
                    "version": t.version,
                    "files": used.files,
                    "bytes": used.bytes + used.log_bytes,
                    "versions": used.versions,
                    "pinned": len(pinned_versions(s, name)),
                }
            )
        except LatentOpsError as exc:  # list the others; `tables check` says how to repair
            err_console.print(
                Text(f"warning: left out {name}: {exc}", style="yellow"), soft_wrap=True
            )
    if not rows:
        console.print("no latent tables yet; run `latentops encode --model NAME`")
        return
    show_table(pa.Table.from_pylist(rows), title=f"latent tables in {s.root}")


@tables_app.command("show")
def tables_show(
    name: str = typer.Argument(..., help="Latent table name."), store: str | None = StoreOpt
) -> None:
    """Show a latent table's card and version history (time travel targets).

    Example: latentops tables show dsprites_vae_v1
    """
    from latentops.storage import Store

    table = Store.open(store, create=False).latent_table(name)
    show_card(table.card, f"latents/{name}")
    show_table(pa.Table.from_pylist(table.history()), title="versions (newest first)")


@tables_app.command("stats")
def tables_stats(
    name: str = typer.Argument(..., help="Latent table name."),
    by: str = typer.Option(..., "--by", "-b", help="Factor / label column to group by."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    store: str | None = StoreOpt,
) -> None:
    """Latent statistics per factor value: n, mean |z|, per-dimension mean and std.

    Example: latentops tables stats dsprites_vae_v1 --by shape
    """
    from latentops.storage import Store, reports

    check_format(fmt, out)
    s = Store.open(store, create=False)
    s.latent_table(name)  # a clear NotFoundError before SQL
    write_table(reports.latent_stats(s, name, by), fmt, out)


@tables_app.command("codebook")
def tables_codebook(
    name: str = typer.Argument(..., help="Latent table of a VQ model."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    store: str | None = StoreOpt,
) -> None:
    """Codebook usage of a VQ model's latents: count and share per code, perplexity, dead codes.

    Example: latentops tables codebook dsprites_vqvae_v1
    """
    from latentops.storage import Store, reports

    check_format(fmt, out)
    rows, summary = reports.codebook_usage(Store.open(store, create=False), name)
    write_table(rows, fmt, out)
    err_console.print(
        f"{summary['used_codes']} of {summary['codebook_size']} codes used "
        f"({summary['dead_codes']} dead) over {summary['tokens']} tokens; "
        f"perplexity {summary['perplexity']:.2f}",
        highlight=False,
    )


@tables_app.command("check")
def tables_check(store: str | None = StoreOpt) -> None:
    """Verify every table: log readable, data files present, latent dimension d consistent.

    Prints how to repair each damaged table; exits 1 if any is damaged.
    Example: latentops tables check
    """
    from latentops.errors import CorruptArtifactError
    from latentops.storage import Store, check

    s = Store.open(store, create=False)
    results = check.check_store(s)
    if not results:
        console.print("no tables yet; nothing to check")
        return
    rows = [
        {
            "table": r.table,
            "version": r.version,
            "files": r.files,
            "rows": r.rows,
            "d": r.d,
            "status": "ok" if r.problem is None else "DAMAGED",
        }
        for r in results
    ]
    show_table(pa.Table.from_pylist(rows), title=f"tables in {s.root}")
    bad = [r for r in results if r.problem is not None]
    for r in bad:
        console.print(Text(f"{r.table}: {r.problem}", style="red"), soft_wrap=True)
        console.print(Text(f"  repair: {r.repair}"), soft_wrap=True)
    if bad:
        raise CorruptArtifactError(
            f"{len(bad)} of {len(results)} tables are damaged ({', '.join(r.table for r in bad)}); "
            "repair them as printed above"
        )


@tables_app.command("repair")
def tables_repair(
    table: str = typer.Argument(..., help="latents/NAME (or NAME), models, directions, ..."),
    store: str | None = StoreOpt,
) -> None:
    """Drop the rows of data files a table's log lists but the store has lost (a new version).

    The rows in those files are gone already; this makes the table readable again.
    Example: latentops tables repair latents/dsprites_vae_v1
    """
    from latentops.storage import Store, check

    s = Store.open(store, create=False)
    before = check.check_table(s, table)
    removed = check.repair(s, table)
    if not removed:
        console.print(Text(f"{table}: no data file is missing; nothing to repair"))
        return
    after = check.check_table(s, table)
    console.print(
        Text(
            f"{table}: dropped {removed} missing data file(s) "
            f"({(before.rows or 0) - (after.rows or 0)} rows), now version {after.version}"
        )
    )


def _prompt(con: Any, fmt: str, timeout: float | None) -> None:
    """A small read-eval-print loop: statements end with ';', EOF or .quit exits."""
    from latentops.errors import LatentOpsError
    from latentops.storage import sql as store_sql

    console.print(Text(_PROMPT_HELP, style="dim"))
    lines: list[str] = []
    while True:
        try:
            line = input("latentops> " if not lines else "       ...> ")
        except EOFError:
            line = None
        command = (line or "").strip()
        if not lines and command in (".quit", ".exit"):
            break
        if not lines and command in (".tables", ".help"):
            if command == ".help":
                console.print(Text(_PROMPT_HELP))
            else:
                show_table(store_sql.run_query(con, store_sql.TABLES_QUERY), title="views")
            continue
        if line is not None and command:
            lines.append(line)
        if lines and (line is None or command.endswith(";")):
            query, lines = "\n".join(lines), []
            try:
                with store_sql.stream_user_query(con, query, timeout=timeout) as (schema, batches):
                    write_batches(schema, batches, fmt, None)
            except LatentOpsError as exc:  # report and keep the session going
                err_console.print(Text.assemble(("error:", "bold red"), f" {exc}"), soft_wrap=True)
        if line is None:
            break


def sql(
    query: str = typer.Argument(None, help="A read-only SQL query (SELECT). Omit for a prompt."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    timeout: float = typer.Option(
        None, "--timeout", help="Interrupt a query after this many seconds (finite, > 0)."
    ),
    memory_limit: str = typer.Option(
        None, "--memory-limit", help="Cap DuckDB memory (query and result), e.g. 2GB."
    ),
    materialize: bool = typer.Option(
        False, "--materialize", help="Load latent tables into memory once (fast repeated kNN)."
    ),
    store: str | None = StoreOpt,
) -> None:
    """Run read-only SQL over the store (latents.<name>, models, directions, ...).

    Without QUERY, opens an interactive prompt (statements end with ';', .quit or Ctrl-D exits).

    Examples:
      latentops sql "SELECT shape, count(*) FROM latents.dsprites_vae_v1 GROUP BY shape"
      latentops sql "SELECT item_id, project(z, 'heart') AS s FROM latents.t ORDER BY s LIMIT 5"
      latentops sql "WITH h AS (FROM latents.t WHERE shape = 2) FROM knn_item('h', 17, 10)"
      latentops sql --materialize
    """
    from latentops.storage import Store
    from latentops.storage import sql as store_sql

    if query is None and (out is not None or fmt == "parquet"):
        raise typer.BadParameter("--out and --format parquet need a QUERY; the prompt prints")
    check_format(fmt, out)
    store_sql.check_timeout(timeout)
    s = Store.open(store, create=False)
    with warnings_as_lines():
        con = s.connect(memory_limit=memory_limit, materialize=materialize)
    try:
        if query is None:
            _prompt(con, fmt, timeout)
            return
        # streamed: the memory limit bounds the result too, whatever its size
        with store_sql.stream_user_query(con, query, timeout=timeout) as (schema, batches):
            write_batches(schema, batches, fmt, out)
    finally:
        con.close()


def _load_vector(path: Path) -> np.ndarray:
    """Query vector(s) from .npy, .json or a text file of numbers (one row per query)."""
    from latentops.errors import CorruptArtifactError

    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.suffix == ".json":
            return np.asarray(json.loads(path.read_text()), dtype=np.float32)
        text = path.read_text()
        return np.loadtxt(path, dtype=np.float32, delimiter="," if "," in text else None)
    except (OSError, ValueError, TypeError) as exc:
        raise CorruptArtifactError(
            f"--vector {path} is not a vector file ({exc}); pass .npy, .json (a list) or text "
            "with one vector per line"
        ) from None


def search(
    table: str = typer.Option(..., "--table", "-t", help="Latent table to search."),
    item: list[int] = typer.Option(
        None, "--item", "-i", help="Neighbours of this item_id (repeatable)."
    ),
    vector: Path = typer.Option(
        None, "--vector", "-v", exists=True, dir_okay=False, help=".npy/.json/text: (d,) or (Q, d)."
    ),
    k: int = typer.Option(10, "-k", "--k", help="Neighbours per query."),
    metric: str = typer.Option("cosine", "--metric", "-m", help="cosine, l2 or ip."),
    where: str = typer.Option(None, "--where", "-w", help="SQL filter applied before the search."),
    index: str = typer.Option(None, "--index", help="Use an approximate index: ivf or hnsw."),
    version: int = typer.Option(None, "--version", help="Search the table as of this version."),
    fmt: str = FormatOpt,
    out: Path = OutOpt,
    store: str | None = StoreOpt,
) -> None:
    """k nearest neighbours of items or vectors (exact by default; filters never drop rows).

    Examples:
      latentops search --table dsprites_vae_v1 --item 17 -k 10
      latentops search --table dsprites_vae_v1 --vector q.npy -k 5 --where "shape = 2 AND scale > 3"
      latentops search --table dsprites_vae_v1 --item 17 --index ivf
    """
    from latentops.storage import Store, ann

    if bool(item) == (vector is not None):
        raise typer.BadParameter("pass exactly one of --item ID or --vector FILE")
    check_format(fmt, out)
    s = Store.open(store, create=False)
    query = _load_vector(vector) if vector is not None else None
    result = s.knn(
        table,
        query,
        item_id=item or None,
        k=k,
        metric=metric,
        where=where,
        index=index,
        version=version,
    )
    write_table(result, fmt, out)
    if index:
        snap_version = version if version is not None else s.latent_table(table).version
        path = ann.index_path(s.root, table, snap_version, index, metric)
        info = ann.read_card(path)
        err_console.print(
            f"approximate ({index}, search param {info.param}): recall@{info.recall_k} "
            f"{info.recall:.3f} measured at build on {info.recall_queries} items",
            highlight=False,
            markup=False,
        )


@index_app.command("build")
def index_build(
    table: str = typer.Option(..., "--table", "-t", help="Latent table to index."),
    kind: str = typer.Option("ivf", "--kind", help="ivf (fast build) or hnsw."),
    metric: str = typer.Option("cosine", "--metric", "-m", help="cosine, l2 or ip."),
    target_recall: float = typer.Option(
        0.95, "--target-recall", help="Tune search to reach this recall@10."
    ),
    store: str | None = StoreOpt,
) -> None:
    """Build an index for the table's current version (stale indexes are removed).

    Example: latentops index build --table dsprites_vae_v1 --kind ivf --target-recall 0.95
    """
    from latentops.storage import Store, ann

    s = Store.open(store)
    with console.status(Text(f"building {kind} index over {table}")):
        info = ann.build_index(s.root, s.snapshot(table), kind, metric, target_recall=target_recall)
    console.print(
        f"{kind} index of {table} v{info.version} ({info.n} rows, {metric}): "
        f"recall@{info.recall_k} {info.recall:.3f} at search param {info.param}, "
        f"built in {info.build_seconds:.1f} s",
        highlight=False,
        markup=False,
    )


@index_app.command("list")
def index_list(
    table: str = typer.Option(None, "--table", "-t", help="Only this latent table."),
    store: str | None = StoreOpt,
) -> None:
    """List stored indexes with their measured recall and whether they are stale.

    Example: latentops index list
    """
    from latentops.storage import Store, ann

    s = Store.open(store, create=False)
    cards = ann.list_indexes(s.root, table)
    if not cards:
        console.print("no indexes yet; build one with `latentops index build --table NAME`")
        return
    current = {name: s.latents(name).version for name in s.latent_tables()}
    rows = [
        {
            "table": c.table,
            "version": c.version,
            "kind": c.kind,
            "metric": c.metric,
            "rows": c.n,
            "param": c.param,
            "recall": c.recall,
            "recall_k": c.recall_k,
            "stale": current.get(c.table) != c.version,
        }
        for c in cards
    ]
    show_table(pa.Table.from_pylist(rows), title="kNN indexes")


def register(app: typer.Typer) -> None:
    """Attach these commands to the root app."""
    app.add_typer(tables_app, name="tables")
    app.add_typer(index_app, name="index")
    app.command()(sql)
    app.command()(search)
