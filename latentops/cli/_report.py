"""CLI command ``latentops report``: a self-contained HTML report of a model's latent store."""

from __future__ import annotations

import typer
from rich.markup import escape

from latentops.cli._common import DeviceOpt, StoreOpt, console, quiet_prefect


def report(
    model: str = typer.Option(
        None, "--model", "-m", help="NAME@VERSION (default: the latest model)."
    ),
    table: str = typer.Option(
        None, "--table", "-t", help="Latent table (default: the model's table)."
    ),
    out: str = typer.Option(
        None,
        "--out",
        "-o",
        help="Folder or s3://bucket/prefix for report.html (default STORE/reports/NAME-vN).",
    ),
    color_by: str = typer.Option(
        None, "--color-by", help="Factor column colouring the latent map."
    ),
    projection: str = typer.Option(
        "auto", "--projection", help="Latent map: auto (UMAP if installed), pca, umap."
    ),
    n_items: int = typer.Option(4, "--n-items", help="Items per edit strip and traversal grid."),
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Write a self-contained HTML report of a model and its latent table (opens offline).

    Model card and training curves, reconstructions, traversals, edit strips, dose-response and scorecards per direction, entanglement heatmaps, lerp vs slerp, disentanglement metrics, a 2-D latent map and nearest neighbours. Parts not computed yet are marked as such.

    Examples:
      latentops report
      latentops report --model vae@1 --out reports/ --color-by scale
    """
    from latentops.storage import Store

    opened = Store.open(store)
    if model is not None:
        opened.models.card(model)  # an unknown model answers before Prefect starts
    if table is not None:
        opened.latent_table(table)
    quiet_prefect()
    from latentops.flows.report import report_flow

    options = {"projection": projection, "n_items": n_items}
    with console.status("rendering the report…"):
        summary = report_flow(
            store=store or None,
            model=model,
            table=table,
            out=out or None,
            color_by=color_by,
            options=options,
            device=device,
        )
    missing = [k for k, v in summary.items() if v is None and k not in ("table", "table_version")]
    console.print(
        f"[green]wrote[/green] {escape(summary['path'])} ({summary['bytes'] / 1e6:.1f} MB): "
        f"{escape(summary['model'])}, {summary['directions']} directions, {summary['rows']} rows"
    )
    if missing:
        console.print(f"[dim]not computed yet: {escape(', '.join(missing))}[/dim]")
    path = summary["path"]
    if path.startswith("s3://"):
        console.print(f"fetch it: aws s3 cp {path} .", markup=False)
    else:
        console.print(f"open it: file://{path}", markup=False)


def register(app: typer.Typer) -> None:
    """Attach ``report`` to the root app."""
    app.command()(report)
