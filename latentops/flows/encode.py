"""Encode flow: stream a dataset through a registered model into a versioned latent table.

Chunks go through the flow's task runner, so the same flow runs chunk after chunk in this
process (the default) or shards chunks over a Dask cluster (``encode_flow.with_options(
task_runner=make_task_runner("dask"))``). Either way every chunk commits with an
insert-if-absent merge, so each item lands exactly once whatever the interleaving.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_run_logger

from latentops._validate import check_positive_ints
from latentops.data.files import release_array_files
from latentops.flows._lineage import record_latents_version
from latentops.flows.runners import fan_out, in_flight
from latentops.models import parse_batch_size
from latentops.refs import check_name, default_table_name
from latentops.storage import Store
from latentops.tasks._common import transient_retries
from latentops.tasks.encode import choose_batch_size, encode_chunk, plan_encode


@flow(name="encode", log_prints=False)
def encode_flow(
    dataset: str = "dsprites",
    *,
    model: str = "vae",
    table: str | None = None,
    store: str | None = None,
    dataset_options: dict[str, Any] | None = None,
    chunk_size: int = 8192,
    batch_size: int | Literal["auto"] = 512,
    device: str | None = None,
    progress: bool = False,
    parallel: int | None = None,
) -> dict[str, Any]:
    """Encode every item of ``dataset`` not yet in the table, committing chunk by chunk.

    ``parallel`` chunks are in flight at once (default: one per Dask worker thread under a
    DaskTaskRunner, else one, which keeps memory to one chunk). ``batch_size="auto"`` fits
    the batch to free device memory once per worker process (each chunk logs its size); the
    summary's ``batch_size`` is the size used, as fitted by the worker that ran the probe
    task under "auto" (None if there was nothing to encode).
    """
    try:
        check_positive_ints(chunk_size=chunk_size)
        requested = parse_batch_size(batch_size)
        options = dict(dataset_options or {})
        opened = Store.open(store)
        root = str(opened.root)
        model_ref = opened.models.resolve(model)["ref"]
        table = check_name(table or default_table_name(dataset, model_ref), "table name")
        width = in_flight(parallel)

        plan = plan_encode(root, table, dataset, options, model_ref)
        missing = plan["missing"]
        logger = get_run_logger()
        logger.info(
            "%s: %d of %d items to encode with %s", table, len(missing), plan["n_items"], model_ref
        )

        batch = requested
        if requested == "auto":
            # Probed on a worker (the one with the device), where chunks then hit its cache.
            probe = choose_batch_size.submit(root, model_ref, device) if len(missing) else None
            batch = probe.result() if probe is not None else None
        chunks = [
            missing[start : start + chunk_size] for start in range(0, len(missing), chunk_size)
        ]
        calls = [
            (len(ids), (root, table, dataset, options, model_ref, ids, requested, device), {})
            for ids in chunks
        ]
        written = sum(
            fan_out(
                encode_chunk.with_options(**transient_retries()),
                calls,
                description=f"encode {table}",
                total=len(missing),
                parallel=width,
                progress=progress,
            )
        )

        latents = opened.latents(table)
        version = latents.version if latents.exists() else None
        logger.info(
            "%s: wrote %d rows (batch size %s%s), table now at version %s",
            table,
            written,
            batch,
            " auto" if requested == "auto" else "",
            version,
        )
        if written and version is not None:
            record_latents_version(root, table, version, written, model_ref)
        return {
            "table": table,
            "model": model_ref,
            "n_items": plan["n_items"],
            "planned": int(len(missing)),
            "written": written,
            "version": version,
            "batch_size": batch,
        }
    finally:
        release_array_files()  # a file dataset's arrays live for one flow run
