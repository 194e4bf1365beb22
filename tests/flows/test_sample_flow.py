"""The sample flow on a real Prefect API and real Delta files: chunking, exactly once, lineage."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from latentops.flows.sample import sample_flow
from latentops.latent import prior_samples
from latentops.models import build_model
from latentops.storage.latents import z_matrix
from latentops.tasks.sample import sample_chunk


def _generator(store) -> str:
    """An untrained 32 px VAE: sampling reads only its card (d, prior, decoder)."""
    torch.manual_seed(0)
    model = build_model("vae", latent_dim=5, image_size=32)
    ref = store.models.register(
        "g", model, dataset="dsprites", dataset_fingerprint="x", train={}, metrics={}
    )
    return str(ref)


def test_samples_do_not_depend_on_chunking_and_leave_lineage(store, read_artifacts):
    ref, root = _generator(store), str(store.root)
    out = sample_flow(ref, n=30, seed=11, table="small", store=root, chunk_size=7)
    assert (out["written"], out["planned"], out["table"]) == (30, 30, "small")
    sample_flow(ref, n=30, seed=11, table="whole", store=root)
    small, whole = (store.latent_table(t).read() for t in ("small", "whole"))
    np.testing.assert_array_equal(z_matrix(small), z_matrix(whole))
    np.testing.assert_array_equal(z_matrix(small), prior_samples(np.arange(30), 5, 11).numpy())
    history = store.latent_table("small").history()
    assert [h["operation"] for h in history[:-1]] == ["sample"] * 5  # one commit per chunk
    assert set(small["run_id"].to_pylist()) == {history[0]["run_id"]}
    assert any('"small"' in str(a.data) for a in read_artifacts("latents-small"))
    # the default name carries the model version and the seed
    assert sample_flow(ref, n=2, seed=4, store=root)["table"] == "prior_g_v1_s4"


def test_concurrent_chunks_insert_each_sample_once(store, prefect_harness):
    ref, root = _generator(store), str(store.root)
    ids = [np.arange(0, 40), np.arange(20, 60), np.arange(0, 60)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        added = list(pool.map(lambda i: sample_chunk.fn(root, "t", ref, i, 2), ids))
    assert sum(added) == 60
    rows = store.latent_table("t").read()
    assert rows["item_id"].to_pylist() == list(range(60))
    np.testing.assert_array_equal(z_matrix(rows), prior_samples(np.arange(60), 5, 2).numpy())
