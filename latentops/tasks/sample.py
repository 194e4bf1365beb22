"""Sample tasks: plan the missing sample indices, draw one chunk from the prior, commit it once.

A generator has no encoder: its latent table is filled with draws from its N(0, I) prior,
item_id = sample index. Chunks commit through the same insert-if-absent merge as encoding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.latent import prior_samples
from latentops.storage import Lineage, Store
from latentops.storage.latents import SAMPLED, build_rows, factor_columns, latent_schema
from latentops.tasks._common import current_run_id
from latentops.tasks._generator import check_sample


def table_card(model_card: dict[str, Any], seed: int) -> dict[str, Any]:
    """The card of a table of prior samples: the model, its weights, the seed, the source."""
    return {
        "kind": "latents",
        "d": int(model_card["latent_dim"]),
        "model": model_card["ref"],
        "model_sha256": model_card["sha256"],
        "space": "z",  # draws of z itself, not posterior means
        "dataset": "prior",
        "factor_names": [],
        "source": SAMPLED,
        "prior": "standard_normal",
        "seed": seed,
    }


@task(cache_policy=NO_CACHE)
def plan_sample(store_path: str, table: str, model: str, n: int, seed: int) -> dict[str, Any]:
    """The pinned model ref and the sample indices in [0, n) not yet in the table.

    Refuses (``check_sample``), before anything is written, a model that cannot decode or
    has no N(0, I) prior, and a table that holds other latents.
    """
    store = Store.open(store_path)
    card = store.models.card(model)
    check_sample(store, card, table, seed)
    have = store.latents(table).item_ids()
    missing = np.setdiff1d(np.arange(n, dtype=np.int64), have, assume_unique=True)
    return {"model": card["ref"], "missing": missing}


@task(cache_policy=NO_CACHE)
def sample_chunk(store_path: str, table: str, model: str, item_ids: np.ndarray, seed: int) -> int:
    """Draw z for sample indices ``item_ids`` and insert those not yet in the table."""
    store = Store.open(store_path)
    card = store.models.card(model)
    latents = store.latents(table)
    z = prior_samples(item_ids, int(card["latent_dim"]), seed).numpy()  # (N, d)
    # a table already labelled keeps its label columns: new samples get them empty (null)
    schema = latents.schema() if latents.exists() else latent_schema({}, with_logvar=False)
    empty = {c: np.full(len(item_ids), None, object) for c in factor_columns(schema)}
    run_id = current_run_id()
    lineage = Lineage(card["ref"], card["sha256"], "prior", f"standard_normal:seed={seed}", run_id)
    rows = build_rows(schema, np.asarray(item_ids, np.int64), z, empty, lineage)
    latents.ensure(schema, table_card(card, seed), run_id)
    return latents.insert(rows, run_id, operation="sample")
