"""Label tasks: decode a latent table's rows, let a judge classify them, add its label columns.

The generator path's labels: samples from a prior have no ground truth, so a judge (an
attribute predictor from pixels) names each decode's most probable class per factor. The
columns are the judge's factor names, so label expressions and evaluation read them as they
read a dataset's factors; each column's metadata names the judge that filled it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.models import decode_batches
from latentops.storage import Store
from latentops.storage.resources import load_decoder, load_judge
from latentops.tasks._common import RETRY, current_run_id
from latentops.tasks._generator import check_label


@task(cache_policy=NO_CACHE)
def plan_label(store_path: str, table: str, judge: str, version: int | None) -> dict[str, Any]:
    """The pinned table version and judge, and the rows it has not labelled yet.

    Refuses (``check_label``) bad input before anything is written.
    """
    store = Store.open(store_path)
    judge_card = check_label(store, table, judge)
    latents = store.latent_table(table)
    version = latents.version if version is None else version
    columns = sorted(judge_card["factors"])
    missing = latents.unlabelled(columns, judge_card["ref"], version)
    return {"version": version, "judge": judge_card["ref"], "missing": missing}


@task(cache_policy=NO_CACHE, **RETRY)
def label_chunk(
    store_path: str,
    table: str,
    version: int,
    judge: str,
    item_ids: np.ndarray,
    batch_size: int = 256,
    device: str | None = None,
) -> dict[str, np.ndarray]:
    """Decode ``item_ids`` and classify the images: {"item_id": (N,), factor: (N,) int64}.

    Writes nothing: the flow commits every chunk's labels at once.
    """
    store = Store.open(store_path)
    snap = store.snapshot(table, version)
    net, dev = load_decoder(store, snap.card, device)
    judge_net, _ = load_judge(store, judge, dev)
    found: dict[str, list[np.ndarray]] = {}
    for x in decode_batches(net, snap.z_of(item_ids), dev, batch_size):  # (B, C, H, W)
        for name, cls in judge_net.classify(x).items():
            found.setdefault(name, []).append(cls.cpu().numpy())
    return {"item_id": item_ids, **{k: np.concatenate(v) for k, v in found.items()}}


@task(cache_policy=NO_CACHE, **RETRY)
def write_labels(
    store_path: str, table: str, judge: str, parts: list[dict[str, np.ndarray]]
) -> int:
    """Add the judge's label columns to the table in one commit; return rows labelled."""
    names = [k for k in parts[0] if k != "item_id"]
    labels = pa.table(
        {
            "item_id": pa.array(np.concatenate([p["item_id"] for p in parts]), pa.int64()),
            **{k: pa.array(np.concatenate([p[k] for p in parts]), pa.int64()) for k in names},
        }
    )
    return Store.open(store_path).latent_table(table).add_labels(labels, judge, current_run_id())
