"""CLI commands for edits and their evaluation: edit, interpolate, traverse, evaluate, metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import typer
from rich.markup import escape

from latentops.cli._common import (
    DaskAddressOpt,
    DaskWorkersOpt,
    DeviceOpt,
    RunnerOpt,
    StoreOpt,
    check_exists,
    check_runner,
    console,
    quiet_prefect,
    show_table,
)
from latentops.errors import InvalidInputError

TableOpt = typer.Option(..., "--table", "-t", help="Latent table to edit (its model decodes).")
WhereOpt = typer.Option(None, "--where", "-w", help='SQL filter over the table, e.g. "shape = 2".')
SeedOpt = typer.Option(
    0, "--seed", help="Seed of the item sample (and of random pairs / strengths)."
)
VersionOpt = typer.Option(None, "--table-version", help="Edit this table version (time travel).")
NoImagesOpt = typer.Option(False, "--no-images", help="Store z_edit only, no PNG thumbnails.")
BatchOpt = typer.Option(512, "--batch-size", min=1, help="Latents per decode batch.")
# the default grid, also the scorecard's
STRENGTHS_HELP = (
    "Comma list (-3,-1.5,0,1.5,3) or range START:STOP:COUNT (-3:3:7). Unit: one standard "
    "deviation of the data along the direction (1 = 1 std); directions fitted without data "
    "(manual, imported, older versions) use raw latent units."
)


def parse_grid(text: str | None, name: str) -> list[float] | None:
    """'-3,-1.5,0' or 'START:STOP:COUNT' (inclusive, evenly spaced) -> list of floats."""
    if text is None:
        return None
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            n = int(count)
            if n < 1:
                raise ValueError
            return [float(v) for v in np.linspace(float(start), float(stop), n)]
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(
            f"{name} {text!r} must be a comma list like -3,-1.5,0,1.5,3 or a range START:STOP:COUNT "
            "like -3:3:7"
        ) from None


def _pairs(items: list[str], what: str, sep: str) -> list[tuple[int, int]]:
    out = []
    for item in items:
        a, found, b = item.partition(sep)
        try:
            out.append((int(a), int(b)))
        except ValueError:
            raise InvalidInputError(
                f"{what} {item!r} must look like A{sep}B with integers, e.g. 3{sep}17"
            ) from None
        if not found:
            raise InvalidInputError(f"{what} {item!r} must look like A{sep}B")
    return out


def _ints(text: str | None, name: str) -> list[int] | None:
    """A comma list of integers (None when not given); anything else is a usage error."""
    if not text:
        return None
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"{name} takes a comma list of integers, got {text!r}") from None


def _options(*, store: str | None, no_images: bool, **given: Any) -> dict[str, Any]:
    """The edit flows' shared keyword arguments from the command's options."""
    return {**given, "store": store or None, "images": not no_images, "progress": True}


def _done(summary: dict[str, Any]) -> None:
    for ref, unit in summary.get("strength_units", {}).items():
        what = "std of the data along it" if unit == "std" else "raw latent units"
        console.print(f"{escape(ref)}: strengths in {what}")
    console.print(
        f"[green]{summary['written']}[/green] new {escape(summary['kind'])} edits of "
        f"{escape(summary['table'])} v{summary['table_version']} (already stored edits are "
        "skipped)\n"
        f'query them: latentops sql "SELECT kind, count(*) FROM edits GROUP BY kind"'
    )


def edit(
    table: str = TableOpt,
    direction: list[str] = typer.Option(
        [], "--direction", "-d", help="NAME or NAME@VERSION, repeatable."
    ),
    swap: list[str] = typer.Option(
        [], "--swap", help="VQ models: replace code OLD by NEW, as OLD:NEW, repeatable."
    ),
    strengths: str = typer.Option(None, "--strengths", help=STRENGTHS_HELP),
    where: str = WhereOpt,
    sample: int = typer.Option(
        None, "--sample", "-n", min=1, help="Edit a seeded random sample of N items."
    ),
    seed: int = SeedOpt,
    table_version: int = VersionOpt,
    no_images: bool = NoImagesOpt,
    chunk_size: int = typer.Option(
        1024, "--chunk-size", min=1, help="Items per task (one commit each)."
    ),
    batch_size: int = BatchOpt,
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Edit items along directions (or swap VQ codes), decode, and write the edits table.

    Examples:
      latentops edit -t dsprites_vae_v1 -d pos_x-ridge@1 --where "shape = 2" --sample 64
      latentops edit -t dsprites_vae_v1 -d scale-ridge --strengths -2:2:9
      latentops edit -t dsprites_vqvae_v1 --swap 3:17 --sample 16
    """
    if bool(direction) == bool(swap):  # a usage error (exit 2), before anything opens
        raise typer.BadParameter(
            "pass --direction (latent edits) or --swap (VQ code edits), not both or neither"
        )
    grid = parse_grid(strengths, "--strengths")
    pairs = _pairs(swap, "--swap", ":")
    check_exists(store, tables=[table], table_version=table_version, directions=direction)
    quiet_prefect()
    from latentops.flows.edit import edit_flow, vq_edit_flow

    common = _options(
        where=where,
        sample=sample,
        seed=seed,
        store=store,
        table_version=table_version,
        chunk_size=chunk_size,
        batch_size=batch_size,
        device=device,
        no_images=no_images,
    )
    if swap:
        summary = vq_edit_flow(table, pairs, **common)
    else:
        summary = edit_flow(table, direction, strengths=grid, **common)
    _done(summary)


def interpolate(
    table: str = TableOpt,
    pair: list[str] = typer.Option(
        [], "--pair", "-p", help="Item ids A,B to interpolate between, repeatable."
    ),
    n_pairs: int = typer.Option(
        8, "--n-pairs", min=1, help="Without --pair: this many random pairs."
    ),
    steps: int = typer.Option(8, "--steps", min=2, help="Points per path, endpoints included."),
    method: str = typer.Option("slerp", "--method", help="slerp or lerp."),
    where: str = WhereOpt,
    seed: int = SeedOpt,
    table_version: int = VersionOpt,
    no_images: bool = NoImagesOpt,
    batch_size: int = BatchOpt,
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Interpolate between item pairs (lerp/slerp), decode, and write the edits table.

    Examples:
      latentops interpolate -t dsprites_vae_v1 --pair 10,20 --pair 30,40 --steps 10
      latentops interpolate -t dsprites_vae_v1 --n-pairs 16 --method lerp --where "scale = 5"
    """
    pairs = _pairs(pair, "--pair", ",")
    check_exists(store, tables=[table], table_version=table_version)
    quiet_prefect()
    from latentops.flows.edit import interpolate_flow

    summary = interpolate_flow(
        table,
        pairs=pairs,
        n_pairs=n_pairs,
        steps=steps,
        method=method,
        **_options(
            where=where,
            seed=seed,
            store=store,
            table_version=table_version,
            batch_size=batch_size,
            device=device,
            no_images=no_images,
        ),
    )
    _done(summary)


def traverse(
    table: str = TableOpt,
    values: str = typer.Option(
        None, "--values", help="Coordinate values, list or START:STOP:COUNT (default -2:2:5)."
    ),
    dims: str = typer.Option(None, "--dims", help="Comma list of latent dims (default: all)."),
    where: str = WhereOpt,
    sample: int = typer.Option(8, "--sample", "-n", min=1, help="Items to traverse."),
    seed: int = SeedOpt,
    table_version: int = VersionOpt,
    no_images: bool = NoImagesOpt,
    batch_size: int = BatchOpt,
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """The classic traversal grid: set each latent dim to each value, per item; decode; store.

    Example: latentops traverse -t dsprites_vae_v1 --sample 4 --values -2:2:7
    """
    dim_list = _ints(dims, "--dims")
    grid = parse_grid(values, "--values")
    check_exists(store, tables=[table], table_version=table_version)
    quiet_prefect()
    from latentops.flows.edit import traverse_flow

    summary = traverse_flow(
        table,
        values=grid,
        dims=dim_list,
        **_options(
            where=where,
            sample=sample,
            seed=seed,
            store=store,
            table_version=table_version,
            batch_size=batch_size,
            device=device,
            no_images=no_images,
        ),
    )
    _done(summary)


# Columns of the scorecard view, in reading order.
CARD_COLUMNS = (
    "target.mean",
    "target.delta",
    "off_target.max",
    "off_target_share.max",
    "preservation.pixel_mse",
    "fidelity.frechet",
    "locality",
    "prior.median_percentile",
)
SUMMARY_METRICS = (
    "strength.slope",
    "strength.spearman",
    "linearity.r2",
    "smoothness.ppl",
    "calibration.strength",
    "semantics.judged_change",
)
# the text scorecard's own metrics (evaluation/text_scorecard.py): retrieved sentences, judged
TEXT_CARD_COLUMNS = (
    "text.target.mean",
    "text.target.delta",
    "text.sentiment.mean",
    "text.off_target.sentiment",
    "text.preservation.topic",
    "text.preservation.formality",
    "text.preservation.semantic",
    "text.fidelity.decode",
)
TEXT_SUMMARY_METRICS = (
    "text.strength.slope",
    "text.strength.spearman",
    "text.strength.item_spearman_median",
    "text.linearity.r2",
    "text.calibration.strength",
)


def weak_note(cell: dict[tuple[str, float | None], float]) -> str:
    """The weak-semantics warning of a scorecard whose ``semantics.weak`` row is 1."""
    return (
        "weak semantics: the latents encode the label (probe score high) but the edit barely "
        f"moves it (judged change {cell.get(('semantics.judged_change', None), float('nan')):.3g}"
        f", median per-item Spearman "
        f"{cell.get(('semantics.item_spearman_median', None), float('nan')):.2f})"
    )


def show_scorecard(scores: pa.Table) -> None:
    """One table per direction: strengths as rows, the main metrics as columns, then a summary."""
    rows = scores.to_pylist()
    for ref in sorted({r["direction"] for r in rows}):
        mine = [r for r in rows if r["direction"] == ref]
        grid = sorted({r["strength"] for r in mine if r["strength"] is not None})
        cell = {(r["metric"], r["strength"]): r["value"] for r in mine}
        text = any(r["metric"].startswith("text.") for r in mine)
        columns = [
            m
            for m in (TEXT_CARD_COLUMNS if text else CARD_COLUMNS)
            if not text or any((m, s) in cell for s in grid)  # text: only the judged columns
        ]
        table = pa.table(
            {"strength": grid, **{m: [cell.get((m, s)) for s in grid] for m in columns}}
        )
        first = mine[0]
        show_table(
            table,
            title=f"{ref} → {first['target']} (judge {first['judge']}, {first['n_items']} items)",
        )
        summary = ", ".join(
            f"{m} {cell[(m, None)]:.4g}"
            for m in (TEXT_SUMMARY_METRICS if text else SUMMARY_METRICS)
            if (m, None) in cell
        )
        console.print(f"  {escape(summary)}")
        if cell.get(("semantics.weak", None)) == 1.0:
            console.print(f"  [yellow]{escape(weak_note(cell))}[/yellow]")


def evaluate(
    table: str = typer.Option(
        None, "--table", "-t", help="Latent table whose directions to score."
    ),
    direction: list[str] = typer.Option(
        [], "--direction", "-d", help="NAME or NAME@VERSION, repeatable."
    ),
    judge: str = typer.Option(
        None,
        "--judge",
        "-j",
        help="Judge NAME or NAME@VERSION (latentops judges train); text tables: text (VADER "
        "sentiment, ground-truth topic, embedding cosine to the source).",
    ),
    strengths: str = typer.Option(None, "--strengths", help=STRENGTHS_HELP),
    where: str = WhereOpt,
    sample: int = typer.Option(512, "--sample", "-n", help="Items to score (seeded sample)."),
    seed: int = SeedOpt,
    target: str = typer.Option(
        None,
        "--target",
        help="Judged attribute, e.g. pos_x or shape==2 (default: the direction's label). A "
        "factor the judge has no head for (dSprites orientation) is refused with the reason.",
    ),
    calibrate: float = typer.Option(
        1.0, "--calibrate", help="Find the strength moving the target by this much."
    ),
    run: str = typer.Option(
        None, "--run", help="Show the stored scorecard of this run id instead."
    ),
    table_version: int = VersionOpt,
    batch_size: int = typer.Option(256, "--batch-size", help="Items per decode + judge batch."),
    chunk_size: int = typer.Option(2048, "--chunk-size", help="Items per scoring task."),
    runner: str = RunnerOpt,
    dask_address: str = DaskAddressOpt,
    dask_workers: int = DaskWorkersOpt,
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Score edits with a judge: strength, preservation, fidelity, smoothness, linearity, prior.

    Examples:
      latentops evaluate -t dsprites_vae_v1 -d pos_x-ridge@1 -j dsprites-judge@1
      latentops evaluate -t dsprites_vae_v1 -d heart@2 -j dsprites-judge --target shape==2 --strengths -4:4:9
      latentops evaluate -t dsprites_vae_v1 -d pos_x-ridge -j dsprites-judge -n 20000 --runner dask --dask-workers 2
      latentops evaluate -t reviews_minilm_v1 -d sentiment -j text --strengths -3:3:7
      latentops evaluate --run 6f1c…   (show a stored scorecard)
    """
    from latentops.storage import Store

    if run is None:
        if not (table and direction and judge):  # a usage error (exit 2)
            raise typer.BadParameter(
                "pass --table, --direction and --judge (or --run RUN_ID to show one)"
            )
        grid = parse_grid(strengths, "--strengths")
        check_runner(runner, dask_address)
        from latentops.evaluation import TEXT_JUDGE

        judges = [] if judge == TEXT_JUDGE else [judge]  # the built-in text judges
        check_exists(store, tables=[table], directions=direction, judges=judges)
        quiet_prefect()  # showing a stored run (--run) needs no Prefect
        from latentops.flows.evaluate import evaluate_flow
        from latentops.flows.runners import make_task_runner

        flow = evaluate_flow
        if runner != "thread" or dask_address:
            task_runner = make_task_runner(runner, address=dask_address, n_workers=dask_workers)
            flow = evaluate_flow.with_options(task_runner=task_runner)
        summary = flow(
            table,
            direction,
            judge,
            strengths=grid,
            where=where,
            sample=sample,
            seed=seed,
            target=target,
            calibrate=calibrate,
            store=store or None,
            table_version=table_version,
            batch_size=batch_size,
            device=device,
            chunk_size=chunk_size,
            progress=True,
        )
        run = summary["run_id"]
        for ref, notes in summary["skipped"].items():
            console.print(f"[yellow]{escape(ref)}: left out[/yellow] " + escape("; ".join(notes)))
    scores = Store.open(store).scores.read(run_id=run, kind="edit")
    if scores.num_rows == 0:
        raise InvalidInputError(
            f'no edit scores for run {run!r}; list runs with: latentops sql "SELECT DISTINCT run_id FROM scores"'
        )
    show_scorecard(scores)
    from latentops.cli._judges import accuracy_line
    from latentops.evaluation import TEXT_JUDGE

    judges = Store.open(store).judges
    # the built-in text judges (VADER, ground truth, cosine) learn nothing, so have no accuracy
    for ref in sorted(set(scores["judge"].to_pylist()) - {TEXT_JUDGE}):
        console.print(f"  {escape(accuracy_line(judges.card(ref)))}", soft_wrap=True)
    console.print(
        f"[dim]run {escape(run)}: SELECT * FROM scores WHERE run_id = '{escape(run)}'[/dim]"
    )


def metrics(
    table: str = TableOpt,
    metric: list[str] = typer.Option(
        [], "--metric", "-m", help="mig, sap, dci, beta_vae, factor_vae (default: all)."
    ),
    factor: list[str] = typer.Option(
        [], "--factor", "-f", help="Factor columns (default: every integer column)."
    ),
    where: str = WhereOpt,
    full: bool = typer.Option(
        False, "--full", help="disentanglement_lib sample sizes (slow) instead of fast ones."
    ),
    seed: int = typer.Option(0, "--seed"),
    table_version: int = VersionOpt,
    store: str | None = StoreOpt,
) -> None:
    """Disentanglement metrics of a latent table vs its factor columns, stored in scores.

    Example: latentops metrics -t dsprites_vae_v1 -m mig -m dci --full
    """
    check_exists(store, tables=[table], table_version=table_version)
    quiet_prefect()
    from latentops.flows.evaluate import metrics_flow

    out = metrics_flow(
        table,
        metric or None,
        factors=factor or None,
        where=where,
        fast=not full,
        seed=seed,
        store=store or None,
        table_version=table_version,
    )
    show_table(
        pa.table({"metric": list(out["scores"]), "value": list(out["scores"].values())}),
        title=f"{table}: {out['n_items']} items, factors {', '.join(out['factors'])}",
    )
    console.print(f"[dim]run {escape(out['run_id'])} (protocol in the scores table)[/dim]")


def register(app: typer.Typer) -> None:
    """Attach these commands to the root app."""
    app.command()(edit)
    app.command()(interpolate)
    app.command()(traverse)
    app.command()(evaluate)
    app.command()(metrics)
