"""``latentops serve``: run the encode, refit, re-evaluate and maintain deployments on Prefect."""

from __future__ import annotations

import typer
from rich.markup import escape

from latentops.cli._common import DeviceOpt, StoreOpt, check_exists, console, quiet_prefect
from latentops.cli._pipeline import ImageSizeOpt, NItemsOpt, UpsampleOpt
from latentops.errors import InvalidInputError


def serve(
    model: str = typer.Option(
        ...,
        "--model",
        "-m",
        help="Model to encode with: NAME (latest version at each run) or NAME@VERSION.",
    ),
    dataset: str = typer.Option(
        None,
        "--dataset",
        "-d",
        help="dsprites, digits or file (default: the model's training dataset).",
    ),
    table: str = typer.Option(
        None, "--table", "-t", help="Latent table (default DATASET_MODEL_vN)."
    ),
    image_size: int = ImageSizeOpt,
    n_items: int = NItemsOpt,
    upsample: int = UpsampleOpt,
    path: str = typer.Option(None, "--path", help="file: Parquet/.npy file that grows over time."),
    vector_column: str = typer.Option(
        None, "--vector-column", help="file: Parquet list<float> column."
    ),
    id_column: str = typer.Option(None, "--id-column", help="file: stable integer item id column."),
    encode_interval: float = typer.Option(
        None, "--encode-interval", help="Run encode every N seconds (default 3600)."
    ),
    encode_cron: str = typer.Option(
        None, "--encode-cron", help="Run encode on a cron schedule instead, e.g. '0 * * * *'."
    ),
    refit: bool = typer.Option(
        True,
        "--refit/--no-refit",
        help="Also serve the refit deployment (runs when a table gains a version).",
    ),
    judge: str = typer.Option(
        None,
        "--judge",
        "-j",
        help="Also serve re-evaluate: score each new direction version with this judge "
        "(NAME follows its latest version).",
    ),
    eval_strengths: str = typer.Option(
        None, "--eval-strengths", help="Re-evaluate strength grid (default -3,-1.5,0,1.5,3)."
    ),
    eval_sample: int = typer.Option(
        512, "--eval-sample", help="Re-evaluate: items per scorecard (seeded sample)."
    ),
    maintain_interval: float = typer.Option(
        None,
        "--maintain-interval",
        help="Also serve maintain-store every N seconds (compact, checkpoint, vacuum), e.g. 86400.",
    ),
    maintain_older_than: str = typer.Option(
        "7d", "--maintain-older-than", help="maintain-store keeps versions newer than this."
    ),
    runner: str = typer.Option(
        "thread",
        "--runner",
        help="thread, or dask to shard encode and scoring chunks over a Dask cluster.",
    ),
    dask_address: str = typer.Option(
        None, "--dask-address", help="dask: scheduler address (default: a LocalCluster per run)."
    ),
    dask_workers: int = typer.Option(
        2, "--dask-workers", help="dask LocalCluster: worker processes."
    ),
    chunk_size: int = typer.Option(8192, "--chunk-size", help="Items per committed chunk."),
    batch_size: int = typer.Option(512, "--batch-size", help="Items per forward pass."),
    name: str = typer.Option("latentops", "--name", help="Deployment name (flow/NAME)."),
    limit: int = typer.Option(None, "--limit", help="Most flow runs this process runs at once."),
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Serve deployments: incremental encode, refit when a table gains a version, re-evaluate,
    and (with --maintain-interval) maintain-store: compact, checkpoint, vacuum, pins kept whole.

    Re-evaluate (with --judge) scores every new direction version the judge has not scored.
    Runs until interrupted, against the Prefect server at PREFECT_API_URL, or else the
    machine's local one that latentops starts (its UI shows the deployments and runs).

    Examples:
      latentops serve --model vae --encode-interval 3600
      PREFECT_API_URL=http://127.0.0.1:4200/api latentops serve --model vae --judge dsprites-judge
      latentops serve --model vae --maintain-interval 86400 --maintain-older-than 7d
      latentops serve --model vae --judge dsprites-judge --eval-strengths -3:3:7 --eval-sample 1024
      latentops serve --model vae@1 --dataset dsprites --n-items 50000 --encode-cron "0 * * * *"
      latentops serve --model emb --dataset file --path items.parquet --vector-column emb --id-column id
      latentops serve --model vae --runner dask --dask-address tcp://scheduler:8786
    """
    check_exists(store, models=[model], judges=[judge] if judge else [])
    quiet_prefect()  # PREFECT_API_URL, else the machine's shared local server
    from prefect import serve as prefect_serve
    from pydantic import ValidationError

    from latentops.cli._edit import parse_grid
    from latentops.flows.deployments import build_deployments
    from latentops.flows.params import DatasetOptions, EncodeSpec, RunnerOptions
    from latentops.flows.reevaluate import ReevaluateSpec

    if encode_interval is None and encode_cron is None:
        encode_interval = 3600.0
    try:
        runner_options = RunnerOptions(kind=runner, address=dask_address, n_workers=dask_workers)
        reevaluate = None
        if judge is not None:
            reevaluate = ReevaluateSpec(
                judge=judge,
                strengths=parse_grid(eval_strengths, "--eval-strengths"),
                sample=eval_sample,
                device=device,
                runner=runner_options,
            )
        spec = EncodeSpec(
            model=model,
            dataset=dataset,
            table=table,
            chunk_size=chunk_size,
            batch_size=batch_size,
            device=device,
            options=DatasetOptions(
                image_size=image_size,
                n_items=n_items,
                upsample=upsample,
                path=path,
                vector_column=vector_column,
                id_column=id_column,
            ),
            runner=runner_options,
        )
    except ValidationError as exc:
        raise InvalidInputError(f"bad serve option: {exc}") from None
    deployments = build_deployments(
        spec,
        store=store or None,
        name=name,
        interval=encode_interval,
        cron=encode_cron,
        refit=refit,
        reevaluate=reevaluate,
        maintain_interval=maintain_interval,
        maintain_older_than=maintain_older_than,
    )
    for deployment in deployments:
        console.print(
            f"serving [green]{escape(f'{deployment.flow_name}/{deployment.name}')}[/green]"
        )
    prefect_serve(*deployments, limit=limit, print_starting_message=False)


def register(app: typer.Typer) -> None:
    """Attach ``serve`` to the root app."""
    app.command()(serve)
