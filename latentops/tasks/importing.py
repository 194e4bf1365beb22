"""Import task: an identity model stands for precomputed embeddings."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.models import build_model
from latentops.storage import Store
from latentops.tasks._common import current_run_id
from latentops.tasks._import_plan import plan_import


@task(cache_policy=NO_CACHE)
def register_identity(store_path: str, table: str, dataset_options: dict[str, Any]) -> str:
    """Validate the file for ``table``, then register (or reuse) its identity model."""
    store = Store.open(store_path)
    plan = plan_import(store, table, dataset_options)  # raises before anything is registered
    if plan.model is not None:
        return plan.model
    ref = store.models.register(
        plan.identity,
        build_model("identity", dim=plan.d),
        dataset=plan.dataset,
        dataset_fingerprint=plan.fingerprint,
        train={"dataset_options": dataset_options},
        metrics={},
        run_id=current_run_id(),
    )
    return str(ref)
