"""Per-worker resources: each model and snapshot loads once per process until clear()."""

from __future__ import annotations

import numpy as np
import torch

from latentops.storage import resources
from latentops.storage.latents import Lineage, build_rows, latent_schema


def test_models_and_snapshots_load_once_until_clear(model_store):
    first, card, dev = resources.load_model(model_store, "vae", "cpu")
    again, _, _ = resources.load_model(model_store, "vae@1", "cpu")
    assert again is first and card["ref"] == "vae@1" and dev == torch.device("cpu")
    decoder, _ = resources.load_decoder(model_store, {"model": "vae@1"}, "cpu")
    assert decoder is not first  # a channels-last copy; the encoder keeps its own layout
    latents = model_store.latents("toy")
    schema = latent_schema({}, False)
    z = np.ones((3, int(card["latent_dim"])), np.float32)
    rows = build_rows(schema, np.arange(3), z, {}, Lineage("vae@1", card["sha256"], "d", "f", None))
    latents.ensure(schema, {"kind": "latents", "d": z.shape[1], "model": "vae@1"}, None)
    latents.insert(rows, None)
    snap = model_store.snapshot("toy")
    assert model_store.snapshot("toy") is snap
    resources.clear()
    fresh, _, _ = resources.load_model(model_store, "vae@1", "cpu")
    assert fresh is not first and model_store.snapshot("toy") is not snap
    np.testing.assert_array_equal(model_store.snapshot("toy").z_of(np.array([2, 0])), z[:2])
