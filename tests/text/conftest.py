"""Text fixtures: the packaged MiniLM loaded once per session, and one encoded reviews store."""

from __future__ import annotations

import os

import pytest

# Every text test runs offline: the model must come from the installed package, never a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

N_REVIEWS = 400  # a few hundred sentences keep the encode under ~10 s on one CPU core


@pytest.fixture(scope="session")
def minilm():
    """The MiniLM encoder built from the installed package's files (eval mode, CPU)."""
    from latentops.storage.pretrained import from_package

    model, _, _ = from_package()
    return model


@pytest.fixture(scope="session")
def text_store(tmp_path_factory, prefect_harness):
    """A store with minilm@1 and ``reviews_minilm_v1`` (N_REVIEWS sentences), via the flow."""
    from latentops.flows.encode import encode_flow

    root = tmp_path_factory.mktemp("text") / "store"
    summary = encode_flow(
        dataset="reviews",
        model="minilm",
        store=str(root),
        dataset_options={"n_items": N_REVIEWS},
        batch_size=64,
    )
    assert summary["written"] == N_REVIEWS
    return root
