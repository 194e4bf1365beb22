"""Model protocol, maths of each architecture, config/state round trips and bad inputs."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from latentops.data import DSprites
from latentops.errors import (
    CorruptArtifactError,
    InvalidInputError,
    NotFoundError,
    UnsupportedOperationError,
)
from latentops.models import (
    VAE,
    VQVAE,
    Autoencoder,
    build_model,
    list_models,
    load_model_state,
    model_config_dict,
)

SMALL = {"widths": [16, 16, 32], "fc_width": 64}  # 32 px, fast on CPU
X32 = next(DSprites(32, n_items=64, seed=4).batches(16)).x  # (16, 1, 32, 32)


def _small(arch: str, **kw) -> Autoencoder:
    cfg = {"vqvae": {"widths": [16, 16]}, "identity": {"dim": 6}}.get(arch, SMALL)
    return build_model(arch, **{**cfg, **kw}).eval()


def test_registry_lists_all_archs():
    assert list_models() == ["ae", "identity", "vae", "vqvae"]


@pytest.mark.parametrize("arch", ["vae", "ae", "vqvae"])
@pytest.mark.parametrize("size", [8, 16, 32, 64])
def test_conv_models_encode_and_decode_every_supported_size(arch, size):
    model = build_model(arch, image_size=size, **({"latent_dim": 5} if arch != "vqvae" else {}))
    x = torch.rand(3, 1, size, size)
    with torch.no_grad():
        z = model.encode(x)
        x_hat = model.decode(z)
    assert z.shape == (3, model.latent_dim) and z.dtype == torch.float32
    assert x_hat.shape == x.shape and x_hat.min() >= 0 and x_hat.max() <= 1
    assert model.has_decoder and model.x_shape == (1, size, size)


def test_vae_encode_is_the_posterior_mean_and_loss_is_the_beta_elbo():
    model = _small("vae", beta=4.0)
    stats = model.encode_stats(X32)
    assert torch.equal(model.encode(X32), stats.z)
    assert stats.logvar is not None and stats.logvar.shape == stats.z.shape
    torch.manual_seed(0)
    out = model.loss(X32)
    kl_ref = kl_divergence(Normal(stats.z, (0.5 * stats.logvar).exp()), Normal(0.0, 1.0))
    assert torch.allclose(out.extras["kl"], kl_ref.sum(1).mean(), rtol=1e-5)
    assert torch.allclose(out.reg, 4.0 * out.extras["kl"])
    assert torch.allclose(out.loss, out.recon + out.reg)


def test_ae_recon_is_bernoulli_nll_of_the_reconstruction():
    model = _small("ae")
    out = model.loss(X32)
    x_hat = model.decode(model.encode(X32)).double()
    ref = F.binary_cross_entropy(x_hat, X32.double(), reduction="sum") / len(X32)
    assert out.recon.item() == pytest.approx(ref.item(), rel=1e-4)
    assert out.reg == 0 and torch.equal(out.loss, out.recon)
    assert model.encode_stats(X32).logvar is None


@pytest.mark.parametrize("arch", ["vae", "ae"])
def test_first_decoder_weight_is_the_linear_map_applied_to_z(arch):
    model = _small(arch, latent_dim=6)
    w = model.first_decoder_weight()
    assert w.shape == (64, 6)  # (fc_width, d)
    z = torch.randn(4, 6)
    with torch.no_grad():
        w[:, 2] = 0  # the decoder can no longer see z_2 ...
        z2 = z.clone()
        z2[:, 2] += 5.0
        assert torch.equal(model.decode(z), model.decode(z2))
        z2[:, 3] += 5.0  # ... but still sees z_3
        assert not torch.allclose(model.decode(z), model.decode(z2))


def test_vqvae_encodes_to_nearest_codebook_rows():
    model = _small("vqvae", num_embeddings=8, embedding_dim=4)
    with torch.no_grad():
        model.train().loss(X32)  # one training step spreads the codes over encoder outputs
        model.eval()
        d, h, w = model.token_shape
        assert (d, h, w) == (4, 8, 8) and model.latent_dim == 4 * 8 * 8
        idx = model.encode_indices(X32)  # (B, h, w)
        z = model.encode(X32).view(-1, d, h, w)
        code = model.codebook  # (K, D)
        assert code.shape == (8, 4) and idx.dtype == torch.int64
        assert torch.equal(z, code[idx].permute(0, 3, 1, 2))  # every token is a codebook row
        z_e = model.encoder(X32).permute(0, 2, 3, 1).reshape(-1, d)  # (N, D)
        dist = torch.cdist(z_e.double(), code.double())  # (N, K)
        chosen = dist.gather(1, idx.reshape(-1, 1))[:, 0]
        assert torch.all(chosen <= dist.min(1).values + 1e-5)  # ... and the nearest one
        assert torch.allclose(model.decode_indices(idx), model.decode(model.encode(X32)))


def test_vqvae_first_training_step_is_an_ema_kmeans_step_with_restarts():
    model = _small("vqvae", num_embeddings=8, embedding_dim=4)
    before = model.codebook.clone()
    with torch.no_grad():
        model.loss(X32)  # eval mode: no codebook update
        assert torch.equal(model.codebook, before)
        idx = model.encode_indices(X32).flatten()  # (N,) assignments under the initial codes
        tokens = model.encoder(X32).permute(0, 2, 3, 1).reshape(-1, 4)  # (N, D)
        model.train().loss(X32)
    counts = torch.bincount(idx, minlength=8)
    kept = counts > 1e-3 * len(idx)
    assert 1 <= kept.sum() < 8  # the tiny initial codes attract few of the tokens
    for k in torch.nonzero(kept).flatten():
        # EMA statistics start at zero, so a used code moves to the mean of its tokens
        assert torch.allclose(model.codebook[k], tokens[idx == k].mean(0), atol=1e-4)
    # unused codes restart at encoder outputs of this batch
    nearest = torch.cdist(model.codebook[~kept], tokens).min(1).values
    assert torch.all(nearest < 1e-4)


def test_vqvae_straight_through_sends_reconstruction_gradient_to_the_encoder():
    model = _small("vqvae", commitment_cost=0.0).train()
    out = model.loss(X32)
    out.loss.backward()
    assert out.reg == 0
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert model.embedding.weight.grad is None  # the codebook learns by EMA
    assert 1.0 <= out.extras["perplexity"] <= model.config.num_embeddings


def test_identity_passes_vectors_and_cannot_decode():
    model = _small("identity")
    x = torch.arange(12.0).view(2, 2, 3)
    assert torch.equal(model.encode(x), x.view(2, 6))
    assert model.encode_stats(x).logvar is None and not model.has_decoder
    assert model.latent_dim == 6 and len(model.state_dict()) == 0
    with pytest.raises(UnsupportedOperationError, match="^the identity model has no decoder; "):
        model.decode(torch.zeros(2, 6))
    with pytest.raises(UnsupportedOperationError, match="no parameters to train"):
        model.loss(x)
    with pytest.raises(UnsupportedOperationError, match="no .out, d. weight for SeFa"):
        model.first_decoder_weight()
    with pytest.raises(
        InvalidInputError, match=r"identity model \(dim=6\) got input of shape \(2, 5\)"
    ):
        model.encode(torch.zeros(2, 5))


@pytest.mark.parametrize("arch", ["vae", "ae", "vqvae", "identity"])
def test_config_and_state_round_trip_bit_identically(arch):
    model = _small(arch, **({"seed": 3} if arch != "identity" else {}))
    if arch == "vqvae":
        with torch.no_grad():
            model.train().loss(X32)  # give the EMA buffers non-trivial values
        model.eval()
    cfg = json.loads(json.dumps(model_config_dict(model)))
    blob = safetensors.torch.save(model.state_dict())  # what storage/ writes, as bytes
    rebuilt = load_model_state(build_model(arch, **cfg), safetensors.torch.load(blob)).eval()
    assert rebuilt.config == model.config and hash(rebuilt.config) == hash(model.config)
    x = torch.rand(4, 6) if arch == "identity" else X32
    with torch.no_grad():
        assert torch.equal(rebuilt.encode(x), model.encode(x))
        if model.has_decoder:
            z = model.encode(x)
            assert torch.equal(rebuilt.decode(z), model.decode(z))
    # plain load_state_dict works too (the integrator's contract)
    again = build_model(model.arch, **model_config_dict(model))
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(again.eval().encode(x), model.encode(x))


def test_same_seed_same_init_and_other_seed_differs():
    a, b, c = build_model("ae", seed=1), build_model("ae", seed=1), build_model("ae", seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.decoder.fc1.weight, c.decoder.fc1.weight)


def test_default_widths_are_resolved_into_the_config():
    assert build_model("vae").config.widths == (32, 32, 64)
    assert build_model("vae", image_size=64).config.widths == (32, 32, 64, 64)
    assert isinstance(build_model("vqvae", image_size=64), VQVAE)
    assert build_model("vqvae", image_size=64).token_shape == (16, 8, 8)
    assert isinstance(build_model("vae", latent_dim=3), VAE)


@pytest.mark.parametrize(
    "arch, kwargs, match",
    [
        ("vae", {"latent_dim": 0}, "latent_dim=0 must be an integer >= 1"),
        ("ae", {"latent_dim": 2.5}, "latent_dim=2.5 must be an integer"),
        ("vae", {"beta": -1.0}, "beta=-1.0 must be a finite number >= 0"),
        ("vae", {"beta": float("nan")}, "beta=nan"),
        ("vae", {"image_size": 48}, r"image_size=48 is not supported; use one of \(8, 16"),
        (
            "ae",
            {"widths": [8, 8]},
            r"widths=\[8, 8\] must be 3 positive integers for image_size=32",
        ),
        ("vae", {"latentdim": 3}, r"has no config field\(s\) \['latentdim'\]"),
        ("vqvae", {"widths": [8] * 6}, "widths has 6 stages but image_size=32 allows 1..5"),
        ("vqvae", {"ema_decay": 1.0}, "ema_decay=1.0 must be < 1"),
        ("vqvae", {"num_embeddings": 0}, "num_embeddings=0"),
        ("identity", {"dim": 0}, "dim=0 must be an integer >= 1"),
    ],
)
def test_bad_configs_raise(arch, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        build_model(arch, **kwargs)


def test_unknown_arch_raises_not_found():
    with pytest.raises(NotFoundError, match=r"unknown model arch 'gan'; known archs are \['ae'"):
        build_model("gan")


def test_wrong_shaped_inputs_raise():
    model = _small("vae")
    with pytest.raises(InvalidInputError, match=r"expects a float batch of shape \(B, 1, 32, 32\)"):
        model.encode(torch.rand(2, 1, 64, 64))
    with pytest.raises(InvalidInputError, match="torch.uint8"):
        model.encode(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(InvalidInputError, match=r"decodes z of shape \(B, 10\), got \(2, 3\)"):
        model.decode(torch.zeros(2, 3))
    vq = _small("vqvae")
    with pytest.raises(InvalidInputError, match=r"expected a \(B, 8, 8\) integer tensor"):
        vq.decode_indices(torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(InvalidInputError, match=r"codebook has K=64 entries"):
        vq.decode_indices(torch.full((1, 8, 8), 64))


def test_bad_checkpoints_raise_corrupt_artifact():
    model = _small("ae")
    state = model.state_dict()
    with pytest.raises(CorruptArtifactError, match=r"missing \['decoder.fc1.bias'\]"):
        load_model_state(model, {k: v for k, v in state.items() if k != "decoder.fc1.bias"})
    with pytest.raises(CorruptArtifactError, match=r"unexpected \['extra'\]"):
        load_model_state(model, {**state, "extra": torch.zeros(1)})
    with pytest.raises(CorruptArtifactError, match=r"wrong shape \['decoder.fc1.weight: \(64, 3\)"):
        load_model_state(model, {**state, "decoder.fc1.weight": torch.zeros(64, 3)})
    with pytest.raises(CorruptArtifactError, match="contain NaN/inf"):
        load_model_state(model, {**state, "decoder.fc1.bias": torch.full((64,), float("nan"))})
    with pytest.raises(CorruptArtifactError, match="are not tensors"):
        load_model_state(model, {**state, "decoder.fc1.bias": [0.0]})
    other = build_model("ae", latent_dim=3)  # a checkpoint of another config
    with pytest.raises(CorruptArtifactError, match="does not fit a 'ae' model"):
        load_model_state(other, state)
