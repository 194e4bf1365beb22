"""CLI commands over the model registry: list, show, register your own model, check one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import typer

from latentops.cli._common import StoreOpt, console, show_card, show_table
from latentops.cli._pipeline import ImageSizeOpt, NItemsOpt, UpsampleOpt

if TYPE_CHECKING:
    from latentops.data import Dataset
    from latentops.models import CheckReport

models_app = typer.Typer(
    help="Registered models (name@version): built-in autoencoders and models you bring.",
    no_args_is_help=True,
)

_FILE = {"exists": True, "dir_okay": False}


@models_app.command("list")
def models_list(store: str | None = StoreOpt) -> None:
    """List model versions.

    Example: latentops models list
    """
    from latentops.storage import Store

    table = Store.open(store, create=False).models.list()
    cols = ["name", "version", "arch", "latent_dim", "dataset", "n_params", "created_at"]
    show_table(table.select(cols), title="models")


@models_app.command("show")
def models_show(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION."), store: str | None = StoreOpt
) -> None:
    """Show a model card (architecture or how it is built, spec, fingerprint, metrics, lineage).

    Example: latentops models show vae@1
    """
    from latentops.storage import Store

    models = Store.open(store, create=False).models
    card = models.card(ref)
    card["metrics"] = {k: v for k, v in card["metrics"].items() if k != "history"}
    card["spec"] = models.spec(card).as_dict()
    card["capabilities"] = models.capabilities(card).as_dict()
    show_card(card, card["ref"])


@models_app.command("register")
def models_register(
    name: str = typer.Option(..., "--name", "-n", help="Model name; registering again: NAME@next."),
    factory: str = typer.Option(
        None,
        "--factory",
        help="package.module:function that builds your nn.Module. This IMPORTS AND RUNS YOUR "
        "CODE (and again whenever the model is loaded); register only code you trust.",
    ),
    config: Path = typer.Option(
        None, "--config", help="JSON object of keyword arguments for the factory.", **_FILE
    ),
    weights: Path = typer.Option(
        None,
        "--weights",
        help="safetensors state_dict of the module (read with safetensors, never unpickled).",
        **_FILE,
    ),
    exported_encoder: Path = typer.Option(
        None,
        "--exported-encoder",
        help="torch.export .pt2 program x -> z (no Python code of yours needed to load it).",
        **_FILE,
    ),
    exported_decoder: Path = typer.Option(
        None, "--exported-decoder", help="torch.export .pt2 program z -> x.", **_FILE
    ),
    prior: str = typer.Option(
        "none", "--prior", help="Prior of an exported model's z: standard_normal or none."
    ),
    entry_point: str = typer.Option(
        None,
        "--entry-point",
        help="Name of a model an installed package offers in entry-point group "
        "latentops.models (runs that package's code).",
    ),
    dataset: str = typer.Option(
        None,
        "--dataset",
        "-d",
        help="Dataset it encodes (dsprites, digits, or a path: image folder, .parquet, .npy): "
        "checked against the spec, the default for encode.",
    ),
    image_size: int = ImageSizeOpt,
    n_items: int = NItemsOpt,
    upsample: int = UpsampleOpt,
    store: str | None = StoreOpt,
) -> None:
    """Register a model you built elsewhere, after checking it; nothing is written if a check fails.

    --factory and --entry-point import and run your code (a factory is Python you wrote);
    --weights are read with safetensors, never unpickled; .pt2 programs need no code of yours.

    The module (what the factory returns) needs encode(x) -> z (B, d) and a spec:
    self.spec = {"d": 8, "input_kind": "image", "input_shape": [1, 32, 32], "prior": "none"};
    decode(z), first_decoder_weight() and encode_posterior(x) -> (mu, logvar) are optional.

    Examples:
      latentops models register --name mine --factory mymodels.conv:build --config cfg.json --weights w.safetensors --dataset digits
      latentops models register --name mine --exported-encoder enc.pt2 --exported-decoder dec.pt2 --dataset digits
      latentops models register --name mine --entry-point tiny-ae --dataset digits
    """
    from latentops.cli._pipeline import choose_dataset
    from latentops.data import get_dataset
    from latentops.models import check_input_shape, check_model, probe_batch
    from latentops.refs import check_name
    from latentops.storage import Store
    from latentops.storage import external_models as em

    sources = [s for s in (factory, exported_encoder, entry_point) if s is not None]
    if len(sources) != 1:
        raise typer.BadParameter(
            "pass exactly one of --factory, --exported-encoder or --entry-point"
        )
    if exported_encoder is None and (exported_decoder is not None or prior != "none"):
        raise typer.BadParameter("--exported-decoder and --prior go with --exported-encoder")
    if exported_encoder is not None and (config is not None or weights is not None):
        raise typer.BadParameter("--config and --weights go with --factory or --entry-point")
    check_name(name, "model name")
    opts: dict[str, Any] = {}
    if dataset:
        sizes = {"image_size": image_size, "n_items": n_items, "upsample": upsample}
        dataset, opts = choose_dataset(dataset, (None, {}), sizes, {})
    data = get_dataset(dataset, **opts) if dataset else None
    models = Store.open(store).models
    if exported_encoder is not None:
        build = em.from_exported(exported_encoder, exported_decoder, prior)
    else:
        kwargs = em.read_config(config)
        state = em.read_weights(weights) if weights is not None else None
        if factory is not None:
            build = em.from_factory(factory, kwargs, state)
        else:
            build = em.from_entry_point(entry_point, kwargs, state)
    model = build.model
    if data is not None:
        check_input_shape(model.spec, data.x_shape, model.label, opts.get("path", dataset))
    report = check_model(model, _sample(data) if data is not None else probe_batch(model))
    _show_report(report, f"checks of {name}")
    ref = models.register_external(
        name,
        build,
        report,
        dataset=dataset,
        dataset_fingerprint=data.fingerprint if data is not None else None,
        dataset_options=opts,
    )
    console.print(f"registered [green]{ref}[/green] ({build.config['source']})")


@models_app.command("check")
def models_check(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION."), store: str | None = StoreOpt
) -> None:
    """Check a registered model: output shape and dtype, NaN/inf, determinism, round trip, speed.

    Uses items of the model's dataset (random inputs of its spec without one). Exit 1 when a
    check fails.

    Example: latentops models check mine@1
    """
    from latentops.data import get_dataset
    from latentops.models import check_input_shape, check_model, probe_batch
    from latentops.storage import Store
    from latentops.storage.models import trained_on

    models = Store.open(store, create=False).models
    model, card = models.load(ref)
    dataset, options = trained_on(card)
    data = get_dataset(dataset, **options) if dataset else None
    if data is not None:
        check_input_shape(model.spec, data.x_shape, card["ref"], options.get("path", dataset))
    x = _sample(data) if data is not None else probe_batch(model)
    report = check_model(model, x)
    _show_report(report, f"checks of {card['ref']}")
    report.raise_on_failure(card["ref"])


def _sample(data: Dataset, n: int = 64) -> Any:
    """The first ``n`` items of a dataset as one batch x."""
    return next(data.batches(min(n, data.n_items))).x


def _show_report(report: CheckReport, title: str) -> None:
    rows = [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks]
    rows += [{"check": k, "ok": None, "detail": f"{v:.4g}"} for k, v in report.figures.items()]
    show_table(pa.Table.from_pylist(rows), title=title)
