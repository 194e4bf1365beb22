"""Shared fixtures: one Prefect test harness per session, small real stores and models."""

from __future__ import annotations

import os

import pytest

# Keep Prefect quiet and local: no telemetry, ephemeral API inside the harness.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness():
    """A real (temporary, SQLite-backed) Prefect API for the whole test session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def store(tmp_path):
    """An empty store in a temporary directory."""
    from latentops.storage import Store

    return Store.open(tmp_path / "store")


SMALL = {"image_size": 32, "n_items": 1500}


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory, prefect_harness):
    """A store holding a small β-VAE (vae@1) trained by the real train flow on dSprites."""
    from latentops.flows.train import train_flow

    root = tmp_path_factory.mktemp("trained") / "store"
    ref = train_flow(
        dataset="dsprites",
        arch="vae",
        name="vae",
        store=str(root),
        dataset_options=SMALL,
        model_params={"latent_dim": 6, "beta": 2.0},
        epochs=2,
        batch_size=128,
        lr=2e-3,
        seed=0,
    )
    assert ref == "vae@1"
    return root


@pytest.fixture
def model_store(trained_store, tmp_path):
    """A private copy of the trained store, so tests can write without seeing each other."""
    import shutil

    from latentops.storage import Store

    dst = tmp_path / "store"
    shutil.copytree(trained_store, dst)
    return Store.open(dst)


@pytest.fixture
def diverged_model(model_store):
    """``broken@1`` in the private store: vae@1 with every weight NaN (a diverged training run)."""
    import torch

    model, _ = model_store.models.load("vae@1")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    model_store.models.register(
        "broken",
        model,
        dataset="dsprites",
        dataset_fingerprint="x",
        train={"dataset_options": SMALL},
        metrics={},
    )
    return "broken@1"
