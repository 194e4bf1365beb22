"""CLI commands that run flows: train, encode, import."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

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
    show_card,
)
from latentops.errors import InvalidInputError

# Built-in datasets a command line can name; anything else is a path to the user's data.
CLI_DATASETS = ("dsprites", "digits", "reviews")
_DATA_SUFFIXES = (".parquet", ".pq", ".npy")


def dataset_options(
    dataset: str, image_size: int | None, n_items: int | None, upsample: int | None
) -> dict[str, Any]:
    """Collect the dataset options a user set on the command line, and check them."""
    from latentops.data import get_dataset

    if dataset not in CLI_DATASETS:
        raise InvalidInputError(
            f"unknown dataset {dataset!r}; use one of {', '.join(CLI_DATASETS)}, or a path to "
            "an image folder, a .parquet or a .npy file (precomputed vectors: latentops import)"
        )
    opts: dict[str, Any] = {}
    if dataset == "dsprites":
        if image_size is not None:
            opts["image_size"] = image_size
    elif upsample is not None and dataset == "digits":
        opts["upsample"] = upsample
    if dataset in ("dsprites", "reviews") and n_items is not None:
        opts["n_items"] = n_items
    if (dataset != "dsprites" and image_size is not None) or (
        dataset == "digits" and n_items is not None
    ):
        raise InvalidInputError(
            "--image-size applies to dsprites only, --n-items to dsprites and reviews; "
            "digits takes --upsample"
        )
    if dataset == "reviews" and upsample is not None:
        raise InvalidInputError("--upsample applies to digits only; reviews takes --n-items")
    get_dataset(dataset, **opts)  # sizes out of range answer now, before any flow starts
    return opts


def is_path(dataset: str) -> bool:
    """True when a --dataset value names the user's data (a folder or file), not a built-in."""
    if dataset in CLI_DATASETS:
        return False
    return "/" in dataset or Path(dataset).suffix in _DATA_SUFFIXES or Path(dataset).exists()


def choose_dataset(
    dataset: str | None,
    trained: tuple[str | None, dict[str, Any]],
    sizes: dict[str, int | None],
    columns: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """The dataset name and options a command runs on: --dataset (a built-in or a path), else
    the one the model was registered with (``trained``: name and options from its card).

    ``sizes`` are the built-ins' --image-size/--n-items/--upsample, ``columns`` a file's
    --image-column etc.; each set is refused where it does not apply.
    """
    given_sizes = {k: v for k, v in sizes.items() if v is not None}
    given_columns = {k: v for k, v in columns.items() if v is not None}
    trained_name, trained_options = trained
    if dataset is not None and is_path(dataset):
        name, options = "file", {"path": str(Path(dataset).resolve())}
        if not Path(dataset).exists():
            raise InvalidInputError(
                f"no folder or file at {dataset!r}; pass an image folder, a .parquet or a .npy "
                f"file, or one of {', '.join(CLI_DATASETS)}"
            )
    else:
        name = dataset or trained_name
        if name is None:
            raise InvalidInputError(
                "the model was registered without a dataset; pass --dataset (digits, dsprites "
                "or a path to an image folder, .parquet or .npy file)"
            )
        options = dict(trained_options) if name == trained_name else {}
    if name == "file":
        if given_sizes:
            raise InvalidInputError(
                "--image-size/--n-items/--upsample apply to dsprites and digits, not to a path"
            )
        return name, {**options, **given_columns}
    if given_columns:
        flags = ", ".join("--" + k.replace("_", "-") for k in sorted(given_columns))
        raise InvalidInputError(
            f"{flags} apply to a path (--dataset FOLDER or FILE), not to the built-in {name}"
        )
    options.update(dataset_options(name, *sizes.values()))
    return name, options


ImageColumnOpt = typer.Option(
    None,
    "--image-column",
    help="Parquet: column of encoded PNG/JPEG bytes (or of flattened pixels).",
)
VectorColumnOpt = typer.Option(None, "--vector-column", help="Parquet: list<float> column.")
LabelColumnsOpt = typer.Option(
    None,
    "--label-columns",
    help="Parquet: comma-separated label columns (default: every scalar column).",
)
IdColumnOpt = typer.Option(
    None,
    "--id-column",
    help="Parquet: unique integer item ids (default: item_id when present, else row numbers).",
)
LabelsCsvOpt = typer.Option(
    None,
    "--labels",
    help="Image folder: CSV with a path column (relative to the folder) and label columns "
    "(default: the subfolder of each image is its class).",
)


def column_options(
    image_column: str | None,
    vector_column: str | None,
    label_columns: str | None,
    id_column: str | None,
    labels: str | None,
) -> dict[str, Any]:
    """The file-dataset options of a command line (None where unset)."""
    return {
        "image_column": image_column,
        "vector_column": vector_column,
        "label_columns": [c.strip() for c in label_columns.split(",")] if label_columns else None,
        "id_column": id_column,
        "labels": str(Path(labels).resolve()) if labels else None,
    }


ImageSizeOpt = typer.Option(
    None, "--image-size", help="dSprites resolution: 64 or 32 (fast CPU runs)."
)
NItemsOpt = typer.Option(
    None,
    "--n-items",
    min=1,
    help="dSprites, reviews: the first N items of one seeded order (a larger N extends).",
)
UpsampleOpt = typer.Option(
    None, "--upsample", min=1, help="digits: integer upsampling factor of the 8x8 images."
)


def _batch_size_option(value: str) -> int | str:
    """--batch-size: a positive int or "auto"; anything else is a usage error (exit 2)."""
    from latentops.models import parse_batch_size

    try:
        return parse_batch_size(value)
    except InvalidInputError as exc:
        raise typer.BadParameter(str(exc)) from exc


def train(
    dataset: str = typer.Option("dsprites", "--dataset", "-d", help="dsprites or digits."),
    model: str = typer.Option("vae", "--model", "-m", help="Architecture: vae, ae or vqvae."),
    name: str = typer.Option(None, "--name", help="Registry name (default: the architecture)."),
    latent_dim: int = typer.Option(10, "--latent-dim", help="Latent dimension d (vae/ae)."),
    beta: float = typer.Option(
        None,
        "--beta",
        help="β of the β-VAE KL term (vae only; default 4). With --recipe: train only this β.",
    ),
    codebook_size: int = typer.Option(64, "--codebook-size", help="K codes (vqvae only)."),
    epochs: int = typer.Option(5, "--epochs", help="Passes over the dataset."),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr"),
    seed: int = typer.Option(
        None, "--seed", help="Seed (default 0). With --recipe: train only this seed."
    ),
    image_size: int = ImageSizeOpt,
    n_items: int = NItemsOpt,
    upsample: int = UpsampleOpt,
    recipe: str = typer.Option(
        None,
        "--recipe",
        help="Run a reference recipe instead (dsprites-reference: the disentanglement_lib "
        "β-VAE protocol, 64 px, batch 64, lr 1e-4, 300k steps per (β, seed); meant for a GPU, "
        "about 77 h per run on a 2-core CPU). It fixes the model and optimiser options.",
    ),
    max_steps: int = typer.Option(
        None,
        "--max-steps",
        min=1,
        help="With --recipe: override its steps (smoke tests; recorded in the card's protocol).",
    ),
    plan: bool = typer.Option(
        False, "--plan", help="With --recipe: print the runs it would train, train nothing."
    ),
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Train an autoencoder and register it as NAME@next-version, or run a reference recipe.

    Examples:
      latentops train --dataset dsprites --model vae --latent-dim 10 --beta 4 --epochs 5 --image-size 32 --n-items 20000
      latentops train --recipe dsprites-reference --plan
      latentops train --recipe dsprites-reference --beta 4 --seed 0 --device cuda
    """
    from latentops.data import get_dataset
    from latentops.data.text import refuse_training
    from latentops.models import TrainConfig, build_model
    from latentops.refs import check_name
    from latentops.storage import Store

    if recipe is not None:
        _train_recipe(recipe, beta, seed, max_steps, n_items, plan, device, store)
        return
    if max_steps is not None or plan:  # a usage error (exit 2)
        raise typer.BadParameter("--max-steps and --plan go with --recipe NAME")
    beta = 4.0 if beta is None else beta
    seed = 0 if seed is None else seed

    opts = dataset_options(dataset, image_size, n_items, upsample)
    config: dict[str, Any] = {}
    if model in ("vae", "ae"):
        config["latent_dim"] = latent_dim
    if model == "vae":
        config["beta"] = beta
    if model == "vqvae":
        config["codebook_size"] = codebook_size
    # Everything checkable before Prefect starts: bad input answers in a second, not a minute.
    check_name(name or model, "model name")
    refuse_training(get_dataset(dataset, **opts))
    build_model(model, **config)
    TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    Store.open(store)
    quiet_prefect()
    from latentops.flows.train import train_flow

    ref = train_flow(
        dataset=dataset,
        arch=model,
        name=name,
        store=store or None,
        dataset_options=opts,
        model_params=config,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        progress=True,
    )
    console.print(f"[green]registered[/green] {escape(str(ref))}")


def _train_recipe(
    name: str,
    beta: float | None,
    seed: int | None,
    max_steps: int | None,
    n_items: int | None,
    plan: bool,
    device: str | None,
    store: str | None,
) -> None:
    """``train --recipe``: show the plan, then train its runs (or the chosen one)."""
    import pyarrow as pa

    from latentops.cli._common import show_table
    from latentops.flows.train import recipe_plan
    from latentops.models.recipes import get_recipe
    from latentops.storage import Store

    betas, seeds = ([beta] if beta is not None else None), ([seed] if seed is not None else None)
    chosen, runs = recipe_plan(
        get_recipe(name), betas=betas, seeds=seeds, max_steps=max_steps, n_items=n_items
    )
    rows = [
        {
            "model": r["name"],
            "beta": r["model_params"]["beta"],
            "seed": r["model_params"]["seed"],
            "epochs": r["train_config"]["epochs"],
            "batch_size": r["train_config"]["batch_size"],
            "lr": r["train_config"]["lr"],
            "schedule": r["train_config"]["schedule"],
        }
        for r in runs
    ]
    show_table(
        pa.Table.from_pylist(rows),
        title=f"recipe {chosen.name}: {len(runs)} run(s), at least {chosen.steps} steps each",
    )
    console.print(escape(f"protocol source: {chosen.source}"))
    if plan:
        return
    Store.open(store)
    quiet_prefect()
    from latentops.flows.train import recipe_flow

    refs = recipe_flow(
        name,
        betas=betas,
        seeds=seeds,
        max_steps=max_steps,
        n_items=n_items,
        store=store or None,
        device=device,
        progress=True,
    )
    for ref in refs:
        console.print(f"[green]registered[/green] {escape(str(ref))}")


def encode(
    model: str = typer.Option(..., "--model", "-m", help="Registered model, NAME or NAME@VERSION."),
    dataset: str = typer.Option(
        None,
        "--dataset",
        "-d",
        help="dsprites, digits, or a path: a folder of PNG/JPEG images, a .parquet or .npy "
        "file (default: the dataset the model was registered with).",
    ),
    table: str = typer.Option(
        None,
        "--table",
        "-t",
        help="Latent table (default DATASET_MODEL_vN; for a path, DATASET is its name).",
    ),
    image_size: int = ImageSizeOpt,
    n_items: int = NItemsOpt,
    upsample: int = UpsampleOpt,
    image_column: str = ImageColumnOpt,
    vector_column: str = VectorColumnOpt,
    label_columns: str = LabelColumnsOpt,
    id_column: str = IdColumnOpt,
    labels: str = LabelsCsvOpt,
    texts: Path = typer.Option(
        None,
        "--texts",
        help="Your own texts: a CSV or Parquet file (dataset 'texts'), encoded by a text model.",
        exists=True,
        dir_okay=False,
    ),
    text_column: str = typer.Option("text", "--text-column", help="--texts: the text column."),
    text_labels: str = typer.Option(
        None, "--text-labels", help="--texts: comma-separated label columns to keep."
    ),
    text_ids: str = typer.Option(
        None, "--text-ids", help="--texts: column of unique integer ids (default: row numbers)."
    ),
    chunk_size: int = typer.Option(8192, "--chunk-size", min=1, help="Items per committed chunk."),
    batch_size: str = typer.Option(
        "512",
        "--batch-size",
        metavar="N|auto",
        help="Items per forward pass, or auto: the largest that fits free device memory.",
        callback=_batch_size_option,
    ),
    runner: str = RunnerOpt,
    dask_address: str = DaskAddressOpt,
    dask_workers: int = DaskWorkersOpt,
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Encode a dataset into a versioned latent table (incremental: only new items).

    A path is your own data. An image folder's item ids hash each file's relative path (adding
    files never renumbers others); its table has path and sha256 columns, and a file replaced
    after it was encoded is refused, not silently kept. Labels: the subfolder name (class) or
    a --labels CSV. A Parquet file holds encoded images (a binary column), vectors or
    flattened pixels, plus label and id columns.

    Examples:
      latentops encode --model vae@1 --n-items 50000
      latentops encode --model mine --dataset photos/ --table photos_mine
      latentops encode --model mine --dataset photos/ --labels photos.csv
      latentops encode --model mine --dataset items.parquet --image-column png --id-column id
      latentops encode --model vae@1 --runner dask --dask-workers 2
      latentops encode --model minilm --dataset reviews --n-items 500
      latentops encode --model minilm --texts my_reviews.csv --text-column review
    """
    from latentops.data import get_dataset
    from latentops.models import check_input_shape
    from latentops.refs import check_name, default_table_name
    from latentops.storage.models import trained_on

    # Everything checkable before Prefect starts: the model, the dataset and its options.
    check_runner(runner, dask_address)
    from latentops.storage import Store
    from latentops.storage.pretrained import PRETRAINED

    if table is not None:
        check_name(table, "table name")
    if texts is not None:  # every text is checked before a store (or a model in it) is written
        if dataset not in (None, "texts"):
            raise typer.BadParameter("--texts is the dataset; leave out --dataset")
        others = (image_column, vector_column, label_columns, id_column, labels, image_size)
        if any(v is not None for v in (*others, n_items, upsample)):
            raise typer.BadParameter(
                "with --texts, name columns with --text-column/--text-labels/--text-ids; the "
                "image, vector and size options do not apply"
            )
        dataset = "texts"
        keep = [c.strip() for c in text_labels.split(",")] if text_labels else None
        opts = {"path": str(texts.resolve()), "text_column": text_column}
        opts.update({"label_columns": keep, "id_column": text_ids})
        data = get_dataset(dataset, **opts)
    # a shipped pretrained model (minilm) may start a new store; any other needs an existing one
    pretrained = model.partition("@")[0] in PRETRAINED
    models = Store.open(store).models if pretrained else check_exists(store).models
    card = models.resolve(model)  # NotFoundError naming the registered models
    if texts is None:
        dataset, opts = choose_dataset(
            dataset,
            trained_on(card),
            {"image_size": image_size, "n_items": n_items, "upsample": upsample},
            column_options(image_column, vector_column, label_columns, id_column, labels),
        )
        data = get_dataset(dataset, **opts)  # a folder is read here: bad files answer now
    where = opts["path"] if dataset in ("file", "texts") else dataset
    # a model that cannot take the dataset's items is refused before the flow writes anything
    check_input_shape(models.spec(card), data.x_shape, card["ref"], where)
    if dataset == "file" and table is None:
        table = default_table_name(data.name, card["ref"])
    quiet_prefect()
    from latentops.flows.encode import encode_flow
    from latentops.flows.runners import make_task_runner

    flow = encode_flow
    if runner != "thread" or dask_address:
        task_runner = make_task_runner(runner, address=dask_address, n_workers=dask_workers)
        flow = encode_flow.with_options(task_runner=task_runner)

    summary = flow(
        dataset=dataset,
        model=card["ref"],
        table=table,
        store=store or None,
        dataset_options=opts,
        chunk_size=chunk_size,
        batch_size=batch_size,
        device=device,
        progress=True,
    )
    console.print(
        f"[green]{escape(summary['table'])}[/green]: {summary['written']} new rows "
        f"({summary['n_items'] - summary['planned']} already encoded), version {summary['version']}"
    )


def import_embeddings(
    path: Path = typer.Option(
        ...,
        "--parquet",
        "--npy",
        help="Parquet or .npy file of vectors.",
        exists=True,
        dir_okay=False,
    ),
    table: str = typer.Option(..., "--table", "-t", help="Latent table to create or extend."),
    vector_column: str = typer.Option(None, "--vector-column", help="Parquet list<float> column."),
    label_columns: str = typer.Option(
        None, "--label-columns", help="Comma-separated label columns (default: all scalar ones)."
    ),
    id_column: str = typer.Option(
        None,
        "--id-column",
        help="Column of unique integer item ids (default: item_id when the file has it). "
        "Without ids rows are keyed by position, and only the same file may extend a table.",
    ),
    store: str | None = StoreOpt,
) -> None:
    """Import precomputed embeddings as a latent table (identity model, no decoder).

    Rows are keyed by their ids: importing another file with new ids extends the table, ids
    already in it are kept as they are, and re-importing a file adds nothing.

    Examples:
      latentops import --parquet emb.parquet --vector-column emb --label-columns topic --table docs
      latentops import --parquet more.parquet --id-column doc_id --table docs
    """
    from latentops.storage import Store
    from latentops.tasks._import_plan import plan_import

    labels = [c.strip() for c in label_columns.split(",")] if label_columns else None
    options = {
        "path": str(path),
        "vector_column": vector_column,
        "label_columns": labels,
        "id_column": id_column,
    }
    # The whole file is checked here, before any flow or Prefect server starts.
    plan_import(Store.open(store), table, options)
    quiet_prefect()
    from latentops.flows.importing import import_flow

    summary = import_flow(**options, table=table, store=store or None, progress=True)
    show_card(summary, f"imported into {table}")
    kept = summary["n_items"] - summary["planned"]
    console.print(
        f"{summary['written']} new rows"
        + (f"; {kept} ids were already in {table} and kept as they are" if kept else "")
    )


def demo(
    full: bool = typer.Option(
        False, "--full", help="64x64 images, more items and epochs (slow on CPU)."
    ),
    text: bool = typer.Option(
        False,
        "--text",
        help="The text pipeline instead: MiniLM sentence latents of procedural reviews, edits "
        "decoded by retrieval, judged by VADER, ground-truth topic and embedding cosine.",
    ),
    text_items: int = typer.Option(
        2000, "--text-items", min=50, help="--text: review sentences to encode."
    ),
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Run the whole pipeline on procedural dSprites (or, with --text, on review sentences).

    Examples:
      latentops demo --store /tmp/demo-store
      latentops demo --text --store /tmp/text-store
    """
    import time

    if text:
        from latentops.cli._text_demo import run_text_demo

        return run_text_demo(store, text_items, device)

    from latentops.storage import Store

    started = time.perf_counter()
    Store.open(store)  # a bad --store answers before Prefect starts
    quiet_prefect()
    from latentops.cli._catalog import show_directions
    from latentops.flows.pipeline import pipeline_flow

    options = {"image_size": 64, "n_items": 60_000} if full else None
    console.rule(
        "latentops demo: β-VAE on dSprites → latents → directions → edits → scores → report"
    )
    summary = pipeline_flow(
        store=store or None,
        dataset_options=options,
        epochs=10 if full else 8,
        judge_options={"image_size": 64, "n_items": 20_000, "seed": 1} if full else None,
        device=device,
        progress=True,
    )
    show_directions(summary["directions"], summary["store"])
    _show_demo_scores(summary)
    elapsed = time.perf_counter() - started
    report = summary["report"]["path"] if summary["report"] else "not written"
    store_arg = shlex.quote(str(summary["store"]))
    console.print(
        f"\n[green]done in {elapsed:.0f} s[/green]: "
        + escape(
            f"model {summary['model']}, latent table {summary['table']} "
            f"({summary['encoded']['n_items']} items), judge {summary['judge']}\n"
        )
        + f"report: [bold]{escape(str(report))}[/bold]\n"
        + escape(
            "next:\n"
            f"  latentops directions list --store {store_arg}\n"
            f"  latentops evaluate --run {summary['evaluation']['run_id']} --store {store_arg}\n"
            f"  latentops sql --store {store_arg} "
            f'"SELECT shape, count(*) FROM latents.{summary["table"]} GROUP BY shape"'
        ),
        soft_wrap=True,  # hints stay one line each, whatever the terminal width, to copy as printed
    )


def _show_demo_scores(summary: dict[str, Any]) -> None:
    """One row per edited direction (dose-response) and the disentanglement scores."""
    import pyarrow as pa

    from latentops.cli._common import show_table
    from latentops.storage import Store

    run = summary["evaluation"]["run_id"]
    rows = Store.open(summary["store"]).sql(
        "SELECT direction, any_value(target) AS target, "
        "max(value) FILTER (metric = 'strength.spearman') AS spearman, "
        "max(value) FILTER (metric = 'strength.slope') AS slope, "
        "max(value) FILTER (metric = 'linearity.r2') AS linearity_r2, "
        # the largest change of another judged attribute as a share of its range (class
        # steps would let a 32-step position outweigh a 3-way shape), and which attribute
        "round(max(value) FILTER (metric = 'off_target_share.max'), 2) || ' ' || "
        "arg_max(json_extract_string(params_json, '$.attribute'), value) "
        "FILTER (metric = 'off_target_share.max') AS off_target, "
        "max(value) FILTER (metric = 'semantics.weak') AS weak_semantics, "
        # slope is per strength unit: one std of the data along the direction (or raw)
        "any_value(json_extract_string(params_json, '$.strength_unit')) AS strength_unit "
        "FROM scores WHERE run_id = ? GROUP BY direction ORDER BY direction",
        [run],
    )
    show_table(
        rows,
        title=f"edits judged by {summary['judge']} (run {run[:8]}; slope per strength unit, "
        "std = one standard deviation of the data along the direction; off_target = largest "
        "mean change of another judged attribute, as a share of its range; weak_semantics 1 = "
        "encoded but the edit barely moves it)",
    )
    from latentops.cli._judges import accuracy_line

    judge = Store.open(summary["store"]).judges.card(summary["judge"])
    console.print(f"  {escape(accuracy_line(judge))}", soft_wrap=True)
    scores = summary["metrics"]["scores"]
    shown = {k: v for k, v in scores.items() if ".factor." not in k and isinstance(v, float)}
    show_table(
        pa.Table.from_pylist([{"metric": k, "value": v} for k, v in sorted(shown.items())]),
        title="disentanglement (fast settings)",
    )


def register(app: typer.Typer) -> None:
    """Attach these commands to the root app."""
    app.command()(demo)
    app.command()(train)
    app.command()(encode)
    app.command("import")(import_embeddings)
