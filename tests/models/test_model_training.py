"""train_autoencoder: losses drop on dSprites, CPU runs are reproducible, failures are clear."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latentops.data import DSprites
from latentops.errors import InvalidInputError, UnsupportedOperationError
from latentops.models import TrainConfig, TrainResult, build_model, train_autoencoder
from latentops.models.train import _objective, lr_at

DS = DSprites(32, n_items=384, seed=7)
TRAIN = [b.x for b in DS.batches(32)]  # 12 batches of (32, 1, 32, 32)
HELD_OUT = next(DSprites(32, n_items=64, seed=8).batches(64)).x
SMALL = {
    "vae": {"widths": [16, 16, 32], "fc_width": 64, "latent_dim": 6},
    "ae": {"widths": [16, 16, 32], "fc_width": 64, "latent_dim": 6},
    "vqvae": {"widths": [16, 16], "num_embeddings": 32, "embedding_dim": 8},
}


def _shuffled(epoch: int) -> list[torch.Tensor]:
    order = np.random.default_rng(epoch).permutation(len(TRAIN))
    return [TRAIN[i] for i in order]


def _held_out_recon(model) -> float:
    model.eval()
    torch.manual_seed(0)  # the VAE's loss samples z
    with torch.no_grad():
        return float(model.loss(HELD_OUT).recon)


@pytest.mark.parametrize("arch", ["vae", "ae", "vqvae"])
def test_reconstruction_loss_drops_in_a_few_epochs(arch):
    model = build_model(arch, **SMALL[arch])
    before = _held_out_recon(model)
    cfg = TrainConfig(epochs=3, lr=2e-3, warmup_steps=0, schedule="constant")  # 36 steps only
    result = train_autoencoder(model, _shuffled, cfg, device="cpu")
    after = _held_out_recon(model)
    assert isinstance(result, TrainResult) and result.steps == 36 and result.device == "cpu"
    assert [h["epoch"] for h in result.history] == [0, 1, 2]
    assert all(h["items"] == 384 for h in result.history)
    assert result.history[-1]["recon"] < 0.5 * result.history[0]["recon"]
    # generalises: held-out recon falls by more than half (a 32x32 image is 1024 pixels)
    assert after < 0.5 * before
    for h in result.history:
        assert h["loss"] == pytest.approx(h["recon"] + h["reg"], rel=1e-5)
    assert result.final == result.history[-1]
    assert not model.training


def test_cpu_training_is_reproducible_given_the_seed():
    def run(seed: int):
        model = build_model("vae", **SMALL["vae"])
        cfg = TrainConfig(epochs=1, seed=seed)
        hist = train_autoencoder(model, lambda e: TRAIN[:4], cfg, device="cpu").history
        return [h["loss"] for h in hist], model.state_dict()

    (loss_a, state_a), (loss_b, state_b), (loss_c, _) = run(0), run(0), run(1)
    assert loss_a == loss_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert loss_a != loss_c  # the seed drives the VAE's sampling noise
    # the run does not disturb the caller's global RNG stream
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    run(0)
    assert torch.equal(torch.rand(3), expected)


def test_on_step_reports_every_log_every_steps():
    seen: list[dict] = []
    model = build_model("vqvae", **SMALL["vqvae"])
    cfg = TrainConfig(epochs=2, log_every=5)
    train_autoencoder(model, lambda e: TRAIN, cfg, device="cpu", on_step=seen.append)
    # 12 steps per epoch: logs at global steps 5, 10, then each epoch's end (12), 15, 20, 24
    assert [s["step"] for s in seen] == [5, 10, 12, 15, 20, 24]
    assert [s["epoch"] for s in seen] == [0, 0, 0, 1, 1, 1]
    assert {"loss", "recon", "reg", "commitment", "perplexity", "items"} <= set(seen[0])
    assert seen[2]["items"] == 384


def test_batches_objects_are_accepted():
    model = build_model("ae", **SMALL["ae"])
    result = train_autoencoder(
        model, lambda e: DS.batches(128), TrainConfig(epochs=1), device="cpu"
    )
    assert result.history[0]["items"] == 384


def test_nan_batch_stops_training_with_the_step():
    bad = TRAIN[3].clone()
    bad[0, 0, 0, 0] = float("nan")

    def batches(epoch):
        return TRAIN[:3] + [bad] + TRAIN[4:]

    model = build_model("ae", **SMALL["ae"])
    with pytest.raises(InvalidInputError, match=r"training diverged at epoch 0 step 3 .*lower lr"):
        train_autoencoder(model, batches, TrainConfig(epochs=1, log_every=100), device="cpu")


def test_empty_epoch_and_identity_model_raise():
    with pytest.raises(InvalidInputError, match=r"make_batches\(0\) yielded no batches"):
        train_autoencoder(build_model("ae"), lambda e: [], TrainConfig(epochs=1), device="cpu")
    with pytest.raises(UnsupportedOperationError, match="'identity' model has no trainable"):
        train_autoencoder(build_model("identity", dim=4), lambda e: [], TrainConfig(), device="cpu")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs=0 must be an integer >= 1"),
        ({"lr": 0.0}, "lr=0.0 must be a finite number > 0"),
        ({"lr": float("inf")}, "lr=inf"),
        ({"grad_clip": -1.0}, "grad_clip=-1.0"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"amp": "yes"}, "amp='yes' must be True or False"),
        ({"log_every": 0}, "log_every=0"),
    ],
)
def test_bad_train_config_raises(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        TrainConfig(**kwargs)


def test_bad_device_raises():
    with pytest.raises(InvalidInputError, match="device='gpu' is not a device name"):
        train_autoencoder(build_model("ae"), lambda e: TRAIN, TrainConfig(), device="gpu")


def test_grad_clip_is_applied():
    def run(clip):
        model = build_model("ae", **SMALL["ae"])
        train_autoencoder(
            model, lambda e: TRAIN[:3], TrainConfig(epochs=1, grad_clip=clip), device="cpu"
        )
        return model.decoder.fc1.weight

    # Adam is invariant to a constant gradient scale, not to per-step clipping factors
    assert torch.equal(run(None), run(None))
    assert not torch.equal(run(None), run(1e-3))


def _collapsed_dims(model, x: torch.Tensor) -> int:
    """Dims whose mean KL(q(z|x) || N(0, 1)) over x is under 0.01 nats: unused by the code."""
    with torch.no_grad():
        st = model.encode_stats(x)
    kl = (0.5 * (st.z.square() + st.logvar.exp() - 1.0 - st.logvar)).mean(0)  # (d,)
    return int((kl < 0.01).sum())


def test_defaults_leave_the_mean_image_plateau_without_collapsing_dims():
    """A short run with the defaults keeps the code alive; the old init collapses it."""
    torch.set_num_threads(1)  # small and single-threaded: seconds on a shared CPU
    data = DSprites(32, n_items=1024, seed=7)
    batches = [b.x for b in data.batches(16)]
    held_out = next(DSprites(32, n_items=256, seed=8).batches(256)).x

    def run(model_kw: dict, train_kw: dict) -> int:
        model = build_model("vae", widths=[16, 16, 32], fc_width=64, latent_dim=10, **model_kw)
        cfg = TrainConfig(epochs=4, **train_kw)
        train_autoencoder(model, lambda e: batches, cfg, device="cpu")
        return _collapsed_dims(model, held_out)

    assert run({}, {}) <= 2  # logvar bias -5, warm-up + cosine lr
    # logvar near 0 and a constant lr: the posterior sits on the prior while the decoder
    # learns the mean image, and nearly every dimension collapses
    assert run({"logvar_bias": 0.0}, {"schedule": "constant", "warmup_steps": 0}) >= 6


def test_lr_schedule_warms_up_then_follows_a_cosine():
    cfg = TrainConfig(lr=1e-3, warmup_steps=10)
    assert lr_at(cfg, 0, None) == pytest.approx(1e-4) and lr_at(cfg, 9, None) == 1e-3
    assert lr_at(cfg, 50, None) == 1e-3  # the run's length is not known yet
    assert lr_at(cfg, 10, 110) == pytest.approx(1e-3)
    assert lr_at(cfg, 60, 110) == pytest.approx(5e-4)
    assert lr_at(cfg, 110, 110) == pytest.approx(0.0, abs=1e-12)
    flat = TrainConfig(lr=1e-3, warmup_steps=0, schedule="constant")
    assert lr_at(flat, 0, None) == lr_at(flat, 500, 600) == 1e-3


def test_kl_warm_up_ramps_the_regulariser_in():
    model = build_model("vae", **SMALL["vae"])
    x = TRAIN[0]
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.loss(x)
    cfg = TrainConfig(reg_warmup_steps=4)
    assert float(_objective(out, cfg, 1)) == pytest.approx(float(out.recon + 0.5 * out.reg))
    assert float(_objective(out, cfg, 4)) == pytest.approx(float(out.loss))


def test_vae_posterior_log_variance_starts_low():
    model = build_model("vae", **SMALL["vae"])
    with torch.no_grad():
        logvar = model.encode_stats(TRAIN[0]).logvar
    assert float(logvar.mean()) == pytest.approx(-5.0, abs=0.5)
    with pytest.raises(InvalidInputError, match="logvar_bias=30"):
        build_model("vae", logvar_bias=30)


def test_reference_recipe_expands_to_the_published_protocol():
    from latentops.models.recipes import get_recipe

    recipe = get_recipe("dsprites-reference")
    runs = recipe.runs(737_280)  # the full dSprites grid: 11,520 steps per epoch at batch 64
    assert len(runs) == 6 * 3 and len({r["name"] for r in runs}) == 18
    first = runs[0]
    assert first["train_config"]["epochs"] == 27  # ceil(300k / 11,520): at least 300k steps
    assert first["train_config"] | {"epochs": 0} == {
        "epochs": 0,
        "batch_size": 64,
        "lr": 1e-4,
        "seed": 0,
        "schedule": "constant",
        "warmup_steps": 0,
    }
    # every spec builds: the model and train configs accept it as it is
    build_model("vae", image_size=64, **first["model_params"])
    TrainConfig(**first["train_config"])
    assert json.loads(json.dumps(recipe.protocol()))["betas"] == [1, 2, 4, 6, 8, 16]
    with pytest.raises(InvalidInputError, match="unknown recipe 'nope'"):
        get_recipe("nope")
