"""CLI commands for judges, the evaluation models that score edits: judges train|list|show."""

from __future__ import annotations

import pyarrow as pa
import typer
from rich.markup import escape

from latentops.cli._common import DeviceOpt, StoreOpt, console, quiet_prefect, show_card, show_table

judges_app = typer.Typer(
    help="Evaluation models (judges) that score edits from pixels.", no_args_is_help=True
)


@judges_app.command("train")
def judges_train(
    dataset: str = typer.Option("dsprites", "--dataset", "-d", help="dsprites or digits."),
    name: str = typer.Option(None, "--name", help="Registry name (default DATASET-judge)."),
    image_size: int = typer.Option(None, "--image-size", help="dSprites resolution (default 32)."),
    n_items: int = typer.Option(
        None, "--n-items", help="dSprites training subset (default 20000)."
    ),
    upsample: int = typer.Option(None, "--upsample", help="digits: upsampling factor."),
    epochs: int = typer.Option(5, "--epochs", help="Passes over the training items."),
    lr: float = typer.Option(3e-3, "--lr", help="Peak learning rate (one-cycle schedule)."),
    width: int = typer.Option(32, "--width", help="Channels of the first conv."),
    seed: int = typer.Option(0, "--seed"),
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Train a judge (attribute predictor from pixels) and register it as NAME@next-version.

    Match the resolution of the models it will judge (--image-size / --upsample).
    Example: latentops judges train --dataset dsprites --image-size 32 --n-items 20000 --epochs 5
    """
    from latentops.cli._pipeline import dataset_options
    from latentops.refs import check_name
    from latentops.storage import Store

    user_opts = dataset_options(dataset, image_size, n_items, upsample)  # checked here, first
    if name is not None:
        check_name(name, "judge name")
    Store.open(store)
    quiet_prefect()
    from latentops.flows.evaluate import JUDGE_DATA, train_judge_flow

    opts = {**JUDGE_DATA.get(dataset, {}), **user_opts}
    with console.status(f"training a judge on {dataset} ({epochs} epochs)…"):
        ref = train_judge_flow(
            dataset,
            name=name,
            store=store or None,
            dataset_options=opts,
            epochs=epochs,
            lr=lr,
            width=width,
            seed=seed,
            device=device,
        )
    console.print(f"[green]registered[/green] {escape(str(ref))}")


@judges_app.command("list")
def judges_list(store: str | None = StoreOpt) -> None:
    """List judge versions with their held-out accuracy.

    Example: latentops judges list
    """
    import json

    from latentops.storage import Store

    table = Store.open(store, create=False).judges.list()
    acc = [
        ", ".join(
            f"{k} {v:.2f}" for k, v in json.loads(m or "{}").get("held_out_accuracy", {}).items()
        )
        for m in table["metrics_json"].to_pylist()
    ]
    cols = table.select(["name", "version", "dataset", "n_params", "created_at"])
    show_table(cols.append_column("held_out_accuracy", pa.array(acc, pa.string())), title="judges")


@judges_app.command("show")
def judges_show(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION."), store: str | None = StoreOpt
) -> None:
    """Show a judge card (dataset, architecture, training, held-out accuracy).

    Example: latentops judges show dsprites-judge@1
    """
    from latentops.storage import Store

    card = Store.open(store, create=False).judges.card(ref)
    card["train"] = {k: v for k, v in card["train"].items() if k != "history"}
    show_card(card, card["ref"])


def accuracy_line(card: dict) -> str:
    """One line of a judge card's held-out accuracy: per head (grid heads also within one
    step) and, where stored, each categorical head's accuracy per class of the breakdown
    factor (dSprites: shape at each scale, where small shapes blur)."""
    metrics = card.get("metrics", {})
    acc = metrics.get("held_out_accuracy", {})
    heads = [k for k in acc if not k.endswith("_within_1")]
    parts = [
        f"{k} {acc[k]:.3f}"
        + (f" (within one step {acc[f'{k}_within_1']:.3f})" if f"{k}_within_1" in acc else "")
        for k in heads
    ]
    for by, per_head in metrics.get("held_out_accuracy_by", {}).items():
        for head, values in per_head.items():
            if f"{head}_within_1" not in acc:  # grid heads are summarised by within one step
                shown = " ".join("-" if v is None else f"{v:.2f}" for v in values)
                parts.append(f"{head} at each {by} {shown}")
    n = metrics.get("n_test")
    return f"judge {card['ref']} held-out accuracy ({n} items): " + ", ".join(parts)


def register(app: typer.Typer) -> None:
    """Attach the ``judges`` group to the root app."""
    app.add_typer(judges_app, name="judges")
