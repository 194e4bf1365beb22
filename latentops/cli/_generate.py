"""CLI commands of the generator path (no encoder): sample a prior, label samples with a judge."""

from __future__ import annotations

import typer
from rich.markup import escape

from latentops.cli._common import DeviceOpt, StoreOpt, check_exists, console, quiet_prefect
from latentops.errors import InvalidInputError


def sample(
    model: str = typer.Option(
        ..., "--model", "-m", help="Registered generator (decodes, N(0, I) prior), NAME[@VERSION]."
    ),
    n: int = typer.Option(..., "--n", "-n", help="Samples 0..N-1 (a larger N extends the table)."),
    seed: int = typer.Option(0, "--seed", help="Seed: sample i is the same for every N."),
    table: str = typer.Option(
        None, "--table", "-t", help="Latent table (default prior_MODEL_vN_sSEED)."
    ),
    chunk_size: int = typer.Option(8192, "--chunk-size", min=1, help="Samples per commit."),
    store: str | None = StoreOpt,
) -> None:
    """Write prior samples of a generator as a latent table (item_id = sample index).

    For models without an encoder (GANs): label the samples with a judge next (latentops
    label), then fit directions, edit and evaluate as on encoded latents.

    Examples:
      latentops sample --model vae@1 --n 2000 --seed 0 --table gen
      latentops sample --model vae@1 --n 5000 --seed 0 --table gen   # adds samples 2000..4999
    """
    from latentops.refs import check_name
    from latentops.tasks._generator import check_sample, default_table_name

    # Everything checkable before Prefect starts.
    if n < 1:
        raise InvalidInputError(f"--n {n} must be at least 1 (the number of samples to draw)")
    if seed < 0:
        raise InvalidInputError(f"--seed {seed} must be an int >= 0")
    opened = check_exists(store, models=[model])
    card = opened.models.card(model)
    table = check_name(table or default_table_name(card["ref"], seed), "table name")
    check_sample(opened, card, table, seed)
    quiet_prefect()
    from latentops.flows.sample import sample_flow

    summary = sample_flow(
        card["ref"],
        n=n,
        seed=seed,
        table=table,
        store=store or None,
        chunk_size=chunk_size,
        progress=True,
    )
    console.print(
        f"[green]{escape(summary['table'])}[/green]: {summary['written']} new samples of "
        f"{escape(summary['model'])} (seed {seed}; {n - summary['planned']} already there), "
        f"version {summary['version']}"
    )


def label(
    table: str = typer.Option(..., "--table", "-t", help="Latent table whose rows to label."),
    judge: str = typer.Option(
        ..., "--judge", "-j", help="Judge NAME or NAME@VERSION (latentops judges train)."
    ),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Items per decode + judge."),
    chunk_size: int = typer.Option(4096, "--chunk-size", min=1, help="Items per labelling task."),
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Label a latent table's rows with a judge's predictions of their decodes.

    Adds one int column per judged factor (its most probable class; the column's metadata
    names the judge) in a new table version. Rows the judge labelled before are kept.

    Examples:
      latentops label --table gen --judge dsprites-judge
      latentops directions fit --table gen --label pos_x --method regression --name right
    """
    from latentops.tasks._generator import check_label

    check_label(check_exists(store), table, judge)  # before Prefect starts
    quiet_prefect()
    from latentops.flows.label import label_flow

    summary = label_flow(
        table,
        judge,
        store=store or None,
        batch_size=batch_size,
        chunk_size=chunk_size,
        device=device,
        progress=True,
    )
    columns = ", ".join(summary["columns"]) or "none new"
    console.print(
        f"[green]{escape(table)}[/green]: {summary['written']} rows labelled by "
        f"{escape(summary['judge'])} ({escape(columns)}), version {summary['version']}"
    )


def register(app: typer.Typer) -> None:
    """Attach ``sample`` and ``label`` to the root app."""
    app.command()(sample)
    app.command()(label)
