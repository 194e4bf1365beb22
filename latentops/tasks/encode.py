"""Encode tasks: plan the missing items, encode one chunk and commit it exactly once."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from latentops.data import Dataset, prefetch
from latentops.errors import InvalidInputError
from latentops.models import check_input_shape, encode_batches, parse_batch_size, pick_device
from latentops.storage import Lineage, Store
from latentops.storage.latents import LatentTable, build_rows, latent_schema
from latentops.storage.resources import load_model, resolve_batch_size
from latentops.tasks._common import RETRY, current_run_id, open_dataset


@task(cache_policy=NO_CACHE)
def plan_encode(
    store_path: str, table: str, dataset: str, dataset_options: dict[str, Any], model: str
) -> dict[str, Any]:
    """Return the pinned model ref, the table card and the item ids not yet encoded.

    Refuses, before anything is written, a dataset whose items the model's spec does not take.
    """
    store = Store.open(store_path)
    card = store.models.card(model)
    latents = store.latents(table)
    data = open_dataset(dataset, dataset_options)
    check_input_shape(store.models.spec(card), data.x_shape, card["ref"], dataset)
    if latents.exists():
        latents.check_space(int(card["latent_dim"]), card["ref"])
        _refuse_changed_items(latents, data, table)
    missing = np.setdiff1d(data.item_ids(), latents.item_ids(), assume_unique=True)
    return {"model": card["ref"], "n_items": data.n_items, "missing": missing}


def _refuse_changed_items(latents: LatentTable, data: Dataset, table: str) -> None:
    """Raise when an item already in the table now has other content (a file was replaced).

    Rows are inserted once per item id and never rewritten, so keeping the old latent would
    leave the table silently wrong about that item.
    """
    col = data.content_column
    if col is None or col not in latents.schema().names:
        return
    stored = latents.read(["item_id", col])
    ids = stored["item_id"].to_numpy()
    keep = np.isin(ids, data.item_ids())
    ids, before = ids[keep], stored[col].to_numpy(zero_copy_only=False)[keep]
    now = data.factors(ids)[col]
    changed = np.flatnonzero(before != now)
    if changed.size:
        first = ids[changed[0]]
        where = data.factors(np.array([first]))
        name = where["path"][0] if "path" in where else f"item {first}"
        raise InvalidInputError(
            f"{changed.size} item(s) of {data.name} changed since table {table!r} encoded them, "
            f"e.g. {name}; encode into a new table (--table NEW_NAME) to keep both, or restore "
            "the old files"
        )


@task(cache_policy=NO_CACHE)
def choose_batch_size(store_path: str, model: str, device: str | None) -> int:
    """Fit the batch size to free memory on ``device`` (once per process) and log it."""
    batch = resolve_batch_size(Store.open(store_path), model, device, "auto")
    get_run_logger().info("batch size %d (auto) for %s on %s", batch, model, pick_device(device))
    return batch


@task(cache_policy=NO_CACHE, **RETRY)
def encode_chunk(
    store_path: str,
    table: str,
    dataset: str,
    dataset_options: dict[str, Any],
    model: str,
    item_ids: np.ndarray,
    batch_size: int | Literal["auto"] = 512,
    device: str | None = None,
) -> int:
    """Encode ``item_ids`` and insert those not yet in the table; return rows added.

    ``batch_size="auto"`` is fitted to free memory on this worker's device, once per process.
    A batch that runs the device out of memory is retried in halves (logged); the chunk is
    committed only once every item of it is encoded, so no partial chunk is ever written.
    """
    store = Store.open(store_path)
    net, card, dev = load_model(store, model, device)
    requested = parse_batch_size(batch_size)
    batch = resolve_batch_size(store, model, device, requested)
    if requested == "auto":
        get_run_logger().info("batch size %d (auto) on %s", batch, dev)
    data = open_dataset(dataset, dataset_options)
    batches = data.batches(batch, item_ids)
    if dev.type == "cpu":
        # Rendering on a second thread overlaps it with a CPU encoder (3.5x on 2 cores). On
        # CUDA the encoder waits on the renderer anyway, and the two threads' torch thread
        # pools fight over the cores: measured on an H200, prefetch halved items/s (32 px:
        # 59,906 vs 96,562), so there the batches are rendered in line.
        batches = prefetch(batches)
    ids, zs, logvars, factors = [], [], [], {k: [] for k in data.factor_names}
    logger = get_run_logger()

    def halved(size: int, half: int) -> None:
        logger.warning(
            "%s: a batch of %d ran out of memory on %s; retrying as %d", table, size, dev, half
        )

    for batch_ids, z, logvar in encode_batches(net, batches, dev, on_split=halved):
        ids.append(batch_ids)
        zs.append(z)
        if logvar is not None:
            logvars.append(logvar)
    item_id = np.concatenate(ids)
    for key, values in data.factors(item_id).items():
        factors[key] = values
    if net.spec.input_kind == "text":
        # texts longer than the model's window lose their tail: kept per row, for SQL and counts
        factors["truncated"] = net.truncated(data.texts(item_id))
    with_logvar = bool(logvars)
    schema = latent_schema(factors, with_logvar)
    run_id = current_run_id()
    lineage = Lineage(card["ref"], card["sha256"], data.name, data.fingerprint, run_id)
    rows = build_rows(
        schema,
        item_id,
        np.concatenate(zs),
        factors,
        lineage,
        np.concatenate(logvars) if with_logvar else None,
    )  # validates before anything is written
    latents = store.latents(table)
    latents.ensure(
        schema,
        {
            "kind": "latents",
            "d": int(card["latent_dim"]),
            "model": card["ref"],
            "model_sha256": card["sha256"],
            "space": "imported" if card["arch"] == "identity" else "mu",
            "dataset": data.name,
            # how to open the items again (evaluation renders the real images from it)
            "source": {"dataset": dataset, "options": dataset_options},
            "factor_names": list(data.factor_names),
        },
        run_id,
    )
    return latents.insert(rows, run_id)
