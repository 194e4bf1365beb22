"""The whole pipeline as one flow: train -> encode -> fit directions (the demo runs this)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from latentops.flows.directions import fit_all_flow, fit_directions_flow
from latentops.flows.encode import encode_flow
from latentops.flows.train import train_flow
from latentops.storage import Store

DEMO_DATA = {"image_size": 32, "n_items": 20_000}
DEMO_MODEL = {"latent_dim": 8, "beta": 2.0}


@flow(name="pipeline")
def pipeline_flow(
    store: str | None = None,
    dataset: str = "dsprites",
    dataset_options: dict[str, Any] | None = None,
    arch: str = "vae",
    name: str = "demo-vae",
    model_params: dict[str, Any] | None = None,
    epochs: int = 8,
    batch_size: int = 64,
    lr: float = 1e-3,
    methods: list[str] | None = None,
    n_pca: int = 3,
    device: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a model, encode the dataset with it, fit directions for every label column."""
    root = str(Store.open(store).root)
    options = dict(DEMO_DATA if dataset_options is None else dataset_options)
    config = dict(DEMO_MODEL if model_params is None else model_params)

    model = train_flow(
        dataset=dataset,
        arch=arch,
        name=name,
        store=root,
        dataset_options=options,
        model_params=config,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        device=device,
    )
    encoded = encode_flow(
        dataset=dataset,
        model=model,
        store=root,
        dataset_options=options,
        device=device,
        progress=progress,
    )
    table = encoded["table"]
    supervised = fit_all_flow(table, store=root, methods=methods or ["logistic", "ridge"])
    unsupervised = fit_directions_flow(
        table, [{"name": "latent", "method": "pca", "params": {"n_components": n_pca}}], store=root
    )
    return {
        "store": root,
        "model": model,
        "table": table,
        "encoded": encoded,
        "directions": supervised + unsupervised,
    }
