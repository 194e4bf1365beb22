"""Encode flow: stream a dataset through a registered model into a versioned latent table."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from latentops._progress import progress_bar
from latentops.refs import check_name, parse_ref
from latentops.storage import Store
from latentops.tasks.encode import encode_chunk, plan_encode


def default_table_name(dataset: str, model_ref: str) -> str:
    """``<dataset>_<model>_v<version>``: one latent table per model version by default."""
    ref = parse_ref(model_ref, "model")
    return f"{dataset}_{ref.name}_v{ref.version}"


@flow(name="encode", log_prints=False)
def encode_flow(
    dataset: str = "dsprites",
    model: str = "vae",
    table: str | None = None,
    store: str | None = None,
    dataset_options: dict[str, Any] | None = None,
    chunk_size: int = 8192,
    batch_size: int = 512,
    device: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Encode every item of ``dataset`` not yet in the table, committing chunk by chunk."""
    options = dict(dataset_options or {})
    root = str(Store.open(store).root)
    model_ref = Store.open(root).models.card(model)["ref"]
    table = check_name(table or default_table_name(dataset, model_ref), "table name")

    plan = plan_encode(root, table, dataset, options, model_ref)
    missing = plan["missing"]
    logger = get_run_logger()
    logger.info("%s: %d of %d items to encode with %s", table, len(missing), plan["n_items"], model_ref)

    written = 0
    with progress_bar(f"encode {table}", len(missing), progress) as bar:
        for start in range(0, len(missing), chunk_size):
            ids = missing[start : start + chunk_size]
            written += encode_chunk(root, table, dataset, options, model_ref, ids, batch_size, device)
            bar.advance(len(ids))

    latents = Store.open(root).latents(table)
    version = latents.version if latents.exists() else None
    logger.info("%s: wrote %d rows, table now at version %s", table, written, version)
    return {
        "table": table,
        "model": model_ref,
        "n_items": plan["n_items"],
        "planned": int(len(missing)),
        "written": written,
        "version": version,
    }
