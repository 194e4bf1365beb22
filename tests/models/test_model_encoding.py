"""encode_batches and pick_device; CUDA paths (pinned memory, AMP) run when a GPU is present."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentops.data import ArrayDataset, Batch, DSprites
from latentops.errors import InvalidInputError
from latentops.models import (
    TrainConfig,
    build_model,
    encode_batches,
    pick_device,
    train_autoencoder,
)

DS = DSprites(32, n_items=100, seed=2)
ALL_X = torch.cat([b.x for b in DS.batches(100)])  # (100, 1, 32, 32)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _collect(results):
    ids, z, lv = zip(*results, strict=True)
    return np.concatenate(ids), np.concatenate(z), None if lv[0] is None else np.concatenate(lv)


def test_encode_batches_matches_model_encode_per_item():
    model = build_model("vae", latent_dim=4)
    ids, z, logvar = _collect(encode_batches(model, DS.batches(32), "cpu"))
    assert np.array_equal(ids, DS.item_ids())
    assert z.shape == (100, 4) and z.dtype == np.float32 and logvar.shape == (100, 4)
    with torch.no_grad():
        stats = model.eval().encode_stats(ALL_X)
    assert np.allclose(z, stats.z.numpy(), atol=1e-5)
    assert np.allclose(logvar, stats.logvar.numpy(), atol=1e-5)
    assert z.flags["C_CONTIGUOUS"] and logvar.flags["C_CONTIGUOUS"]


def test_encode_batches_keeps_requested_order_and_has_no_logvar_for_ae():
    model = build_model("ae", latent_dim=3)
    want = DS.item_ids()[::-7]
    ids, z, logvar = _collect(encode_batches(model, DS.batches(5, want), "cpu"))
    assert np.array_equal(ids, want) and logvar is None and z.shape == (len(want), 3)


def test_identity_encodes_imported_embeddings_exactly():
    emb = np.random.default_rng(0).normal(size=(37, 9)).astype(np.float32)
    ds = ArrayDataset(emb, {"y": np.arange(37) % 2})
    ids, z, _ = _collect(encode_batches(build_model("identity", dim=9), ds.batches(10)))
    assert np.array_equal(ids, np.arange(37)) and np.array_equal(z, emb)


def test_encode_batches_leaves_no_inference_mode_behind():
    gen = encode_batches(build_model("ae"), DS.batches(10), "cpu")
    next(gen)
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()
    gen.close()


def test_encode_batches_rejects_mismatched_ids_and_shapes():
    model = build_model("ae")
    bad = Batch(item_id=np.arange(3), x=torch.zeros(2, 1, 32, 32), factors={})
    with pytest.raises(InvalidInputError, match=r"batch has 2 items but item_id has shape \(3,\)"):
        list(encode_batches(model, [bad], "cpu"))
    wrong = Batch(item_id=np.arange(2), x=torch.zeros(2, 1, 16, 16), factors={})
    with pytest.raises(InvalidInputError, match=r"expects a float batch of shape \(B, 1, 32, 32\)"):
        list(encode_batches(model, [wrong], "cpu"))


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("auto") == pick_device(None)
    with pytest.raises(InvalidInputError, match="device='gpu' is not a device name"):
        pick_device("gpu")
    with pytest.raises(InvalidInputError, match="device='cuda:99' was requested but"):
        pick_device("cuda:99")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_pick_device_cuda_without_gpu():
    with pytest.raises(InvalidInputError, match="has 0 CUDA device.*use device='cpu'"):
        pick_device("cuda")


@pytest.mark.gpu
@CUDA
@pytest.mark.parametrize("arch", ["vae", "vqvae"])
def test_cuda_amp_training_drops_loss_and_matches_cpu_encoding(arch):
    model = build_model(arch)
    batches = [b.x for b in DSprites(32, n_items=1024, seed=1).batches(64)]
    cfg = TrainConfig(epochs=3, lr=2e-3)
    result = train_autoencoder(model, lambda e: batches, cfg, device="cuda")
    assert result.device.startswith("cuda") and next(model.parameters()).is_cuda
    assert result.history[-1]["recon"] < 0.5 * result.history[0]["recon"]
    _, z_amp, _ = _collect(encode_batches(model, DS.batches(32), "cuda", amp=True))
    _, z_fp32, _ = _collect(encode_batches(model, DS.batches(32), "cuda"))
    _, z_cpu, _ = _collect(encode_batches(model, DS.batches(32), "cpu"))
    if arch == "vqvae":
        # tokens are exact float32 codebook rows; rounding may move a few across a boundary
        assert np.mean(z_fp32 == z_cpu) > 0.98 and np.mean(z_amp == z_cpu) > 0.9
    else:
        # cuDNN may use TF32 (~3 decimal digits); bfloat16 autocast keeps ~2-3
        scale = np.abs(z_cpu).max()
        assert np.abs(z_fp32 - z_cpu).max() < 1e-2 * scale
        assert np.abs(z_amp - z_cpu).max() < 5e-2 * scale


class _MemoryBudgetVAE(torch.nn.Module):
    """A VAE whose device can hold the activations of at most ``budget`` items at once."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.inner = build_model("vae", latent_dim=4)
        self.budget = budget
        self.sizes: list[int] = []

    def encode_stats(self, x):
        self.sizes.append(len(x))
        if len(x) > self.budget:
            raise torch.cuda.OutOfMemoryError(f"{len(x)} items do not fit ({self.budget} do)")
        return self.inner.encode_stats(x)


def test_encode_batches_halves_a_batch_that_runs_out_of_memory_and_loses_no_item():
    model = _MemoryBudgetVAE(budget=12)
    splits: list[tuple[int, int]] = []
    ids, z, logvar = _collect(
        encode_batches(model, DS.batches(50), "cpu", on_split=lambda *s: splits.append(s))
    )
    assert np.array_equal(ids, DS.item_ids())  # every item once, in order
    with torch.no_grad():
        want = model.inner.eval().encode_stats(ALL_X)
    assert np.allclose(z, want.z.numpy(), atol=1e-5)
    assert np.allclose(logvar, want.logvar.numpy(), atol=1e-5)
    assert splits[:3] == [(50, 25), (25, 13), (13, 7)]
    # once 7 fitted, later batches go straight in pieces of 7: no more failed attempts
    assert max(model.sizes[model.sizes.index(7) :]) <= 7 and len(splits) == 3


def test_encode_batches_reraises_when_a_single_item_does_not_fit():
    with pytest.raises(torch.cuda.OutOfMemoryError):
        list(encode_batches(_MemoryBudgetVAE(budget=0), DS.batches(4), "cpu"))
