"""Import task: an identity model stands for precomputed embeddings."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.models import build_model
from latentops.storage import Store
from latentops.tasks._common import current_run_id, open_dataset


@task(cache_policy=NO_CACHE)
def register_identity(store_path: str, name: str, dataset_options: dict[str, Any]) -> str:
    """Register (or reuse) the identity model matching the file's vector dimension."""
    store = Store.open(store_path)
    data = open_dataset("file", dataset_options)
    d = int(data.x_shape[-1])
    existing = [r for r in store.models.list().to_pylist() if r["name"] == name]
    if existing:
        latest = max(existing, key=lambda r: r["version"])
        if latest["latent_dim"] == d:
            return f"{name}@{latest['version']}"
    ref = store.models.register(
        name,
        build_model("identity", dim=d),
        dataset=data.name,
        dataset_fingerprint=data.fingerprint,
        train={"dataset_options": dataset_options},
        metrics={},
        run_id=current_run_id(),
    )
    return str(ref)
