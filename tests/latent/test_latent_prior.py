"""N(0, I) prior: exact log density, typical shell, projection back to the prior, edit report."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from latentops.errors import InvalidInputError
from latentops.latent import (
    apply_direction,
    log_prior,
    prior_samples,
    prior_shell_band,
    prior_shell_radius,
    prior_shift,
    project_to_prior,
    radius_for_log_prob,
)
from latentops.latent.prior import SAMPLE_BLOCK

PROPS = settings(max_examples=40, deadline=None)


@pytest.mark.parametrize("d", [1, 2, 10, 128])
def test_log_prior_matches_scipy_multivariate_normal(d):
    z = np.random.default_rng(d).normal(size=(3, 4, d)) * 2
    ref = stats.multivariate_normal(mean=np.zeros(d), cov=np.eye(d)).logpdf(z.reshape(-1, d))
    ours = log_prior(torch.from_numpy(z))
    assert ours.shape == (3, 4)
    np.testing.assert_allclose(ours.numpy().reshape(-1), ref, rtol=1e-12)
    # the constant is included: the density peaks at -d/2 log(2π) at the origin
    assert float(log_prior(torch.zeros(d, dtype=torch.float64))) == pytest.approx(
        -0.5 * d * math.log(2 * math.pi), rel=1e-15
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_log_prior_in_half_precision_is_finite(dtype):
    z = torch.full((2, 512), 200.0, dtype=dtype)  # |z|^2 = 2e7 overflows float16
    lp = log_prior(z)
    assert lp.dtype == torch.float32 and torch.isfinite(lp).all()
    assert float(lp[0]) == pytest.approx(-0.5 * 512 * 200.0**2 - 256 * math.log(2 * math.pi))


@pytest.mark.parametrize("d", [1, 3, 16, 512])
def test_shell_radius_and_band_follow_the_chi_distribution(d):
    assert prior_shell_radius(d) == math.sqrt(d)
    lo, hi = prior_shell_band(d, n_std=2.0)
    chi = stats.chi(d)
    assert (lo + hi) / 2 == pytest.approx(chi.mean(), rel=1e-9) or lo == 0.0
    assert hi == pytest.approx(chi.mean() + 2 * chi.std(), rel=1e-9)
    # and most N(0, I) samples really sit inside the 3-std band
    r = torch.randn(20000, d, generator=torch.Generator().manual_seed(d)).norm(dim=-1)
    lo3, hi3 = prior_shell_band(d)
    assert float(((r >= lo3) & (r <= hi3)).float().mean()) > 0.99


def test_radius_for_log_prob_inverts_log_prior():
    d = 8
    floor = -20.0
    r = radius_for_log_prob(floor, d)
    z = torch.zeros(d, dtype=torch.float64)
    z[3] = r
    assert float(log_prior(z)) == pytest.approx(floor, rel=1e-12)


@PROPS
@given(
    arrays(np.float64, (5, 4), elements=st.floats(-20, 20, width=64)),
    st.floats(0.0, 3.0),
    st.floats(0.1, 4.0),
)
def test_projection_is_a_radial_clip_into_the_band(z, lo, width):
    z = torch.from_numpy(z)
    z[0] = torch.tensor([0.3, -0.1, 0.2, 0.1])  # at least one nonzero row per example
    z = z[z.norm(dim=-1) > 1e-6]
    band = (lo, lo + width)
    out = project_to_prior(z, band=band)
    r, r_out = z.norm(dim=-1), out.norm(dim=-1)
    torch.testing.assert_close(r_out, r.clamp(*band))
    # the direction is kept, and latents already inside the band are untouched
    torch.testing.assert_close(out / r_out[:, None], z / r[:, None])
    inside = (r >= band[0]) & (r <= band[1])
    assert torch.equal(out[inside], z[inside])
    torch.testing.assert_close(project_to_prior(out, band=band), out)  # idempotent


def test_projection_is_the_nearest_point_of_the_band():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200, 6, generator=g, dtype=torch.float64) * 4
    band = (2.0, 3.0)
    out = project_to_prior(z, band=band)
    # any other point of the band (random directions, random radii) is at least as far away
    cand = torch.randn(200, 500, 6, generator=g, dtype=torch.float64)
    cand = cand / cand.norm(dim=-1, keepdim=True) * (2 + torch.rand(200, 500, 1, generator=g))
    best = (cand - z[:, None]).norm(dim=-1).min(dim=1).values
    assert ((out - z).norm(dim=-1) <= best + 1e-12).all()


def test_projection_to_a_log_density_floor_and_default_band():
    d = 16
    z = torch.randn(100, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    floor = float(log_prior(torch.full((d,), 3.0, dtype=torch.float64)))  # |z| <= 12
    out = project_to_prior(z, min_log_prob=floor)
    assert (log_prior(out) >= floor - 1e-9).all()
    kept = log_prior(z) >= floor
    assert kept.any() and (~kept).any() and torch.equal(out[kept], z[kept])
    lo, hi = prior_shell_band(d)
    r = project_to_prior(z).norm(dim=-1)
    assert ((r >= lo - 1e-9) & (r <= hi + 1e-9)).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_projection_in_low_precision(device, dtype):
    z = (torch.randn(64, 32, generator=torch.Generator().manual_seed(2)) * 50).to(device, dtype)
    out = project_to_prior(z)
    assert out.dtype == dtype and torch.isfinite(out).all()
    lo, hi = prior_shell_band(32)
    r = out.float().norm(dim=-1)
    assert ((r >= lo * 0.99) & (r <= hi * 1.01)).all()


def test_prior_shift_reports_how_far_an_edit_moved():
    d = 64
    z = torch.randn(50, d, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    v = torch.randn(d, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    edits = apply_direction(z, v, torch.tensor([0.0, 30.0], dtype=torch.float64))  # (2, 50, d)
    shift = prior_shift(z, edits)
    assert shift.delta_log_prob.shape == (2, 50) and shift.radius_before.shape == (2, 50)
    torch.testing.assert_close(shift.delta_log_prob, log_prior(edits) - log_prior(z))
    torch.testing.assert_close(shift.delta_log_prob[0], torch.zeros(50, dtype=torch.float64))
    torch.testing.assert_close(shift.radius_ratio, edits.norm(dim=-1) / 8.0)
    assert shift.outside_shell[1].all() and (shift.delta_log_prob[1] < 0).all()
    assert shift.shell_z[1].mean() > 10
    summary = shift.summary()
    assert summary["frac_outside_shell"] == pytest.approx(
        float(shift.outside_shell.double().mean())
    )
    assert summary["delta_log_prob"] == pytest.approx(float(shift.delta_log_prob.mean()))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: project_to_prior(torch.ones(2, 3), band=(2.0, 1.0)), r"band=\(2\.0, 1\.0\)"),
        (lambda: project_to_prior(torch.ones(2, 3), band=(-1.0, 1.0)), r"0 <= lo <= hi"),
        (lambda: project_to_prior(torch.ones(2, 3), band=(1, 2, 3)), r"band=\(1, 2, 3\) must be"),
        (
            lambda: project_to_prior(torch.zeros(2, 3), band=(1.0, 2.0)),
            r"2 zero latent\(s\).*radius 1",
        ),
        (
            lambda: project_to_prior(torch.ones(2, 3), min_log_prob=0.0),
            r"min_log_prob=0\.0 is unreach",
        ),
        (
            lambda: project_to_prior(torch.ones(2, 3), band=(3.0, 4.0), min_log_prob=-3.5),
            r"allows \|z\| <= .* below the band's lower radius 3",
        ),
        (lambda: log_prior(torch.tensor([[1.0, float("nan")]])), r"z contains 1 NaN/inf"),
        (lambda: log_prior(torch.ones(0, 4)), r"z is empty"),
        (lambda: prior_shell_radius(0), r"d=0 must be a positive int"),
        (lambda: prior_shell_band(4, n_std=-1.0), r"n_std=-1\.0"),
        (lambda: prior_shift(torch.ones(2, 3), torch.ones(2, 4)), r"z_after has shape \(2, 4\)"),
    ],
)
def test_bad_input_raises_helpful_errors(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()


def test_prior_samples_depend_only_on_seed_index_and_d():
    """Sample i is the same however many are drawn, in what order or chunks (a larger N extends)."""
    n = 3 * SAMPLE_BLOCK + 17  # several blocks, the last one partial
    whole = prior_samples(np.arange(n), 5, seed=7)
    assert whole.shape == (n, 5) and whole.dtype == torch.float32
    first = prior_samples(np.arange(100), 5, seed=7)
    torch.testing.assert_close(first, whole[:100], rtol=0, atol=0)
    picked = np.array([n - 1, 3, SAMPLE_BLOCK, 2 * SAMPLE_BLOCK + 1, 0])  # any order, any block
    torch.testing.assert_close(prior_samples(picked, 5, 7), whole[picked], rtol=0, atol=0)
    assert not torch.equal(prior_samples(np.arange(100), 5, seed=8), first)


def test_prior_samples_are_standard_normal():
    z = prior_samples(np.arange(20 * SAMPLE_BLOCK), 4, seed=0).numpy().ravel()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # distinct blocks are independent streams, not copies or shifts of one another
    blocks = z.reshape(-1, SAMPLE_BLOCK * 4)[:4]
    assert np.abs(np.corrcoef(blocks)[np.triu_indices(4, 1)]).max() < 0.1


@pytest.mark.parametrize(
    ("ids", "d", "seed", "match"),
    [
        (np.array([-1, 2]), 3, 0, "ints >= 0"),
        (np.array([0.5]), 3, 0, "ints >= 0"),
        (np.arange(3), 0, 0, "d=0"),
        (np.arange(3), 3, -1, "seed=-1"),
    ],
)
def test_prior_samples_refuse_bad_input(ids, d, seed, match):
    with pytest.raises(InvalidInputError, match=match):
        prior_samples(ids, d, seed)
