"""Model registry: immutable versions, bit-for-bit reload, corrupt or missing checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from latentops.data import get_dataset
from latentops.errors import CorruptArtifactError, NotFoundError
from latentops.models import build_model


def _register(store, seed=0, name="vae"):
    model = build_model("vae", latent_dim=4, beta=2.0, in_channels=1, image_size=32, seed=seed)
    ref = store.models.register(
        name,
        model,
        dataset="dsprites",
        dataset_fingerprint="f" * 64,
        train={"epochs": 1},
        metrics={"loss": 1.5},
        run_id="r1",
    )
    return model, ref


def test_reload_by_version_or_latest_is_bit_identical(store):
    model, ref = _register(store)
    _, ref2 = _register(store, seed=1)
    assert (str(ref), str(ref2)) == ("vae@1", "vae@2")
    x = next(get_dataset("dsprites", image_size=32, n_items=64).batches(64)).x
    loaded, card = store.models.load("vae@1")
    with torch.inference_mode():
        np.testing.assert_array_equal(loaded.encode(x).numpy(), model.eval().encode(x).numpy())
    latest, latest_card = store.models.load("vae")
    assert latest_card["ref"] == "vae@2"
    assert card["arch"] == "vae" and card["config"]["latent_dim"] == 4
    assert card["metrics"] == {"loss": 1.5} and card["run_id"] == "r1"


def test_weights_are_safetensors_with_recorded_sha(store):
    _register(store)
    card = store.models.card("vae@1")
    path = store.root / card["checkpoint"]
    with safe_open(str(path), framework="pt") as fh:  # no pickle anywhere
        assert fh.metadata()["arch"] == "vae"
        assert len(list(fh.keys())) > 0
    assert path.name == f"{card['sha256']}.safetensors"
    rows = store.sql("SELECT name, version, arch, config_json FROM models").to_pylist()
    assert json.loads(rows[0]["config_json"])["latent_dim"] == 4


def test_corrupt_or_missing_checkpoint(store):
    _register(store)
    path = store.root / store.models.card("vae@1")["checkpoint"]
    data = bytearray(path.read_bytes())
    data[-10:] = b"\x00" * 10
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError, match="does not match its sha256"):
        store.models.load("vae@1")
    _register(store, name="again")  # the same weights again: the blob is rewritten, repaired
    assert store.models.card("again@1")["checkpoint"] == store.models.card("vae@1")["checkpoint"]
    store.models.load("vae@1")
    path.unlink()
    with pytest.raises(NotFoundError, match="is missing"):
        store.models.load("vae@1")


def test_unknown_model_or_version(store):
    _register(store)
    with pytest.raises(NotFoundError, match=r"versions \[1\], not 4"):
        store.models.card("vae@4")
    with pytest.raises(NotFoundError, match="unknown model 'gan'; known: vae"):
        store.models.card("gan")


def test_judges_share_content_addressed_checkpoints_and_are_a_sql_view(store):
    from latentops.evaluation import AttributePredictor, PredictorConfig
    from latentops.storage.judges import JudgeRegistry

    config = PredictorConfig(in_channels=1, image_size=32, factor_sizes={"shape": 3})
    judges = JudgeRegistry(store.root)
    ref = judges.register(
        "judge",
        AttributePredictor(config),
        dataset="dsprites",
        dataset_fingerprint="f",
        dataset_options={},
        train={},
        metrics={},
    )
    card = judges.card(ref)
    assert card["checkpoint"] == f"checkpoints/{card['sha256']}.safetensors"
    rows = store.sql("SELECT name, version FROM judges").to_pylist()
    assert rows == [{"name": "judge", "version": 1}]
