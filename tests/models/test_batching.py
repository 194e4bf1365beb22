"""Batch size fitted to memory: the budget arithmetic exactly, the CPU probe, CUDA when present."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latentops.errors import InvalidInputError
from latentops.models import (
    available_host_bytes,
    batch_for_budget,
    build_model,
    fit_batch_size,
    parse_batch_size,
    probe_memory,
)
from latentops.models.batching import CPU_MAX_BATCH, CUDA_MAX_BATCH, _cgroup_headroom
from latentops.models.device import autocast

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
MiB = 2**20


# -- batch_for_budget: fixed + B * per_item <= fraction * free ---------------------------------


@pytest.mark.parametrize(
    ("fixed", "per_item", "free", "kwargs", "want"),
    [
        (1000, 100, 10_000, {}, 64),  # 0.8 * 10000 = 8000 -> 70 items -> 64
        (0, 100, 12_800, {"fraction": 1.0}, 128),  # exactly 128 fit
        (0, 100, 12_799, {"fraction": 1.0}, 64),  # one byte short of 128
        (0, 1, 5_000, {"fraction": 1.0, "max_batch": 1024}, 1024),  # 5000 fit, capped
        (0, 1, 5_000, {"fraction": 1.0, "max_batch": 1000}, 1000),  # the cap need not be 2^k
        (0, 1, 999, {"fraction": 1.0, "max_batch": 1000}, 512),
        (1000, 100, 10_000, {"min_batch": 65}, 65),  # 64 < min_batch; 65 still fits (70)
        (0, 1, 10, {"fraction": 0.55}, 4),  # floor(5.5) = 5 bytes -> 5 items -> 4
        (7, 3, 10, {"fraction": 1.0}, 1),  # room for exactly one item
    ],
)
def test_batch_for_budget_exact(fixed, per_item, free, kwargs, want):
    assert batch_for_budget(fixed, per_item, free, **{"max_batch": 4096, **kwargs}) == want


@settings(max_examples=200, deadline=None)
@given(
    fixed=st.integers(0, 10**9),
    per_item=st.integers(1, 10**7),
    free=st.integers(1, 10**12),
    fraction=st.floats(0.01, 1.0),
    max_batch=st.integers(1, 10**5),
)
def test_batch_for_budget_is_the_largest_that_fits(fixed, per_item, free, fraction, max_batch):
    budget = math.floor(fraction * free)
    fits = (budget - fixed) // per_item
    if fits < 1:
        with pytest.raises(InvalidInputError, match="room for 0 item"):
            batch_for_budget(fixed, per_item, free, fraction=fraction, max_batch=max_batch)
        return
    b = batch_for_budget(fixed, per_item, free, fraction=fraction, max_batch=max_batch)
    assert 1 <= b <= max_batch and fixed + b * per_item <= budget
    assert b == max_batch or b & (b - 1) == 0  # the cap or a power of two
    if b < max_batch:  # the next step up (2b, or the cap) would not fit
        assert fixed + min(2 * b, max_batch) * per_item > budget


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0, 100, 99), {"fraction": 1.0}, r"room for 0 item\(s\).*free device memory"),
        ((9_000, 100, 10_000), {}, r"room for 0 item"),  # the fixed part alone is over budget
        ((0, 100, 1_000), {"min_batch": 9}, r"room for 8 item.*min_batch=9"),
        ((0, 100, 1_000), {"fraction": 0.0}, r"fraction=0.0 must be in \(0, 1\]"),
        ((0, 100, 1_000), {"fraction": 1.5}, r"fraction=1.5 must be in \(0, 1\]"),
        ((0, 100, 1_000), {"fraction": float("nan")}, r"fraction=nan"),
        ((0, 100, 1_000), {"fraction": True}, r"fraction=True"),
        ((0, 0, 1_000), {}, r"per_item_bytes=0 must be an integer >= 1; measure it"),
        ((-1, 100, 1_000), {}, r"fixed_bytes=-1 must be an integer >= 0"),
        ((0, 100, 0), {}, r"free_bytes=0 must be an integer >= 1"),
        ((0, 100, 1_000), {"max_batch": 4, "min_batch": 8}, r"max_batch=4 must be .* >= 8"),
        ((0, 100, 1_000), {"min_batch": 0}, r"min_batch=0 must be an integer >= 1"),
        ((0, 100.5, 1_000), {}, r"per_item_bytes=100.5"),
    ],
)
def test_batch_for_budget_rejects_bad_input(args, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        batch_for_budget(*args, **{"max_batch": 512, **kwargs})


# -- parse_batch_size ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "want"), [("auto", "auto"), (" AUTO ", "auto"), (8, 8), ("256", 256)]
)
def test_parse_batch_size(value, want):
    assert parse_batch_size(value) == want


@pytest.mark.parametrize("value", [0, -1, "0", "1.5", "fast", "²", True, 2.0, None])
def test_parse_batch_size_rejects(value):
    with pytest.raises(InvalidInputError, match="must be a positive integer or 'auto'"):
        parse_batch_size(value)


# -- the CPU probe ------------------------------------------------------------------------------


def test_cpu_probe_counts_input_copies_every_layer_output_and_the_result():
    model = build_model("vae", latent_dim=10, image_size=32)  # widths (32, 32, 64), fc 256
    # floats per item: 4 host copies of the 1x32x32 input; conv+ReLU outputs of
    # 32x16x16, 32x8x8, 64x4x4 (two tensors each); fc1 256; fc2 2*10; then z and logvar 10 each
    floats = 4 * 32 * 32 + 2 * (32 * 16 * 16 + 32 * 8 * 8 + 64 * 4 * 4) + 256 + 20 + 20
    est = probe_memory(model, device="cpu")
    assert (est.fixed_bytes, est.per_item_bytes, est.device) == (0, 4 * floats, "cpu")
    # decoding too adds the decoder's layers and the images, never removes anything
    assert probe_memory(model, device="cpu", decode=True).per_item_bytes > est.per_item_bytes


def test_identity_probe_is_the_vectors_themselves():
    est = probe_memory(build_model("identity", dim=64), device="cpu")
    assert est.per_item_bytes == (4 + 1) * 64 * 4  # 4 host copies of x, and z


def test_cpu_probe_leaves_the_model_as_it_was():
    model = build_model("vae", latent_dim=4, image_size=16).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit_batch_size(model, device="cpu", free_bytes=64 * MiB)
    assert model.training and not torch.is_inference_mode_enabled()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("free_mib", [1, 4, 16, 64])
def test_cpu_batch_grows_with_the_budget_and_shrinks_with_the_model(free_mib):
    small = build_model("vae", latent_dim=10, image_size=32)
    big = build_model("vae", latent_dim=10, image_size=64)
    b_small = fit_batch_size(small, device="cpu", free_bytes=free_mib * MiB)
    b_big = fit_batch_size(big, device="cpu", free_bytes=free_mib * MiB)
    assert b_big <= b_small
    assert b_small <= fit_batch_size(small, device="cpu", free_bytes=2 * free_mib * MiB)
    # each one is what the arithmetic gives for its measured per-item bytes
    est = probe_memory(big, device="cpu")
    assert b_big == batch_for_budget(0, est.per_item_bytes, free_mib * MiB, max_batch=CPU_MAX_BATCH)


def test_cpu_batch_never_exceeds_max_batch():
    model = build_model("ae", latent_dim=4, image_size=16)
    assert fit_batch_size(model, device="cpu", free_bytes=2**40) == CPU_MAX_BATCH
    assert fit_batch_size(model, device="cpu", free_bytes=2**40, max_batch=100) == 100
    assert fit_batch_size(model, device="cpu") <= CPU_MAX_BATCH  # the host's real free RAM


def test_fit_batch_size_rejects_bad_input():
    model = build_model("vae", latent_dim=4, image_size=32)
    with pytest.raises(InvalidInputError, match=r"room for 0 item.*pass an explicit"):
        fit_batch_size(model, device="cpu", free_bytes=10_000)  # less than one 32 px item
    with pytest.raises(InvalidInputError, match=r"fraction=0 must be in \(0, 1\]"):
        fit_batch_size(model, device="cpu", fraction=0)
    with pytest.raises(InvalidInputError, match=r"item_shape=\(1, 0, 32\) must be .* positive"):
        fit_batch_size(model, (1, 0, 32), device="cpu")
    with pytest.raises(InvalidInputError, match=r"item_shape=\(\) must be a non-empty"):
        probe_memory(model, (), device="cpu")
    with pytest.raises(InvalidInputError, match=r"max_batch=0 must be an integer >= 1"):
        fit_batch_size(model, device="cpu", max_batch=0)
    with pytest.raises(InvalidInputError, match="expects a float batch of shape"):
        probe_memory(model, (1, 16, 16), device="cpu")  # the model checks its own input


# -- host memory --------------------------------------------------------------------------------


def test_available_host_bytes_is_positive_and_at_most_the_machine():
    total = next(
        (int(line.split()[1]) * 1024 for line in open("/proc/meminfo") if "MemTotal" in line),
        None,
    )
    avail = available_host_bytes()
    assert avail > 0 and (total is None or avail <= total)


def test_cgroup_headroom_v2_v1_and_unlimited(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("1000000\n")
    (v2 / "memory.current").write_text("600000\n")
    (v2 / "memory.stat").write_text("anon 400000\ninactive_file 150000\nactive_file 50000\n")
    assert _cgroup_headroom(v2) == 1_000_000 - 600_000 + 150_000  # cache is reclaimable
    (v2 / "memory.max").write_text("max\n")
    assert _cgroup_headroom(v2) is None  # no limit
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("2000000\n")
    (v1 / "memory.usage_in_bytes").write_text("2500000\n")
    assert _cgroup_headroom(tmp_path / "v1") == 0  # over the limit: nothing left, never < 0
    assert _cgroup_headroom(tmp_path / "none") is None


# -- CUDA ---------------------------------------------------------------------------------------


@CUDA
def test_cuda_batch_runs_within_fraction_of_the_budget():
    dev = torch.device("cuda")
    model = build_model("vae", latent_dim=10, image_size=64).to(dev)
    free, fraction = 256 * MiB, 0.5
    b = fit_batch_size(model, device=dev, free_bytes=free, fraction=fraction)
    assert 1 <= b < CUDA_MAX_BATCH  # 128 MiB cannot hold 2048 items of 64 px
    x = torch.rand(b, *model.x_shape)  # (b, 1, 64, 64) on the host, as encode_batches gets it
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    with torch.inference_mode(), autocast(dev):
        z = model.encode(x.to(dev))  # (b, 10)
    torch.cuda.synchronize()
    assert z.shape == (b, 10)
    assert torch.cuda.max_memory_allocated() - base <= fraction * free


@CUDA
def test_cuda_probe_and_default_fit():
    dev = torch.device("cuda")
    model = build_model("vae", latent_dim=10, image_size=64).to(dev)
    est = probe_memory(model, device=dev)
    assert est.per_item_bytes >= 64 * 64 * 4  # at least the float32 input itself
    b = fit_batch_size(model, device=dev)  # the device's real free memory
    assert 1 <= b <= CUDA_MAX_BATCH
    with torch.inference_mode(), autocast(dev):
        assert model.encode(torch.zeros(b, 1, 64, 64, device=dev)).shape == (b, 10)
    with pytest.raises(InvalidInputError, match="room for 0 item"):
        fit_batch_size(model, device=dev, free_bytes=64 * 1024)


@CUDA
def test_cuda_probe_of_a_cpu_model_leaves_it_on_the_cpu():
    model = build_model("vae", latent_dim=4, image_size=16)
    batch = fit_batch_size(model, device="cuda", max_batch=64)
    assert 1 <= batch <= 64
    assert all(p.device.type == "cpu" for p in model.parameters())
