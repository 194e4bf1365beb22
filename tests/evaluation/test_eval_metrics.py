"""Disentanglement metrics: extremes, invariances, hand-computed values, protocol, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latentops.errors import InvalidInputError, LatentOpsError
from latentops.evaluation import (
    beta_vae_score,
    dci,
    factor_vae_score,
    histogram_discretize,
    mig,
    sap,
    split_scores,
)
from latentops.evaluation._dci import completeness, disentanglement
from latentops.evaluation._sampling import FactorGroups

SIZES = (2, 3, 4)


def grid(repeats: int = 40) -> np.ndarray:
    """The full factor grid of SIZES, each combination ``repeats`` times: (24 * repeats, 3)."""
    combos = np.array(list(itertools.product(*[range(s) for s in SIZES])))
    return np.repeat(combos, repeats, axis=0)


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    y = grid()
    # axis-aligned, noiseless code: dim j is factor j (arbitrary scale), plus one dead-ish dim
    perfect = np.concatenate([y * np.array([1.0, 2.5, -0.7]), rng.normal(size=(len(y), 1))], 1)
    noise = rng.normal(size=(len(y), 4))
    return y, perfect, noise


# ---- extremes ---------------------------------------------------------------------------


def test_mig_extremes(table):
    y, perfect, noise = table
    assert mig(perfect[:, :3], y)["mig"] == pytest.approx(1.0, abs=1e-12)  # full grid: exact
    # the extra random dim picks up a little plug-in MI bias (about bins * values / 2N nats)
    assert mig(perfect, y)["mig"] > 0.95
    assert mig(noise, y)["mig"] < 0.05


def test_sap_extremes(table):
    y, perfect, noise = table
    # continuous mode: squared correlation 1 on the right dim and exactly 0 elsewhere (grid)
    assert sap(perfect[:, :3], y, continuous_factors=True)["sap"] == pytest.approx(1.0, abs=1e-9)
    assert sap(noise, y, continuous_factors=True)["sap"] < 0.05
    # discrete (reference) mode on a binary factor: accuracy 1 vs chance 1/2
    binary = y[:, :1]
    assert sap(perfect[:, [0, 3]], binary)["sap"] == pytest.approx(0.5, abs=0.1)
    assert sap(noise, y)["sap"] < 0.1


def test_dci_extremes(table):
    y, perfect, noise = table
    good, bad = dci(perfect, y), dci(noise, y)
    assert good["dci.disentanglement"] > 0.95 and good["dci.completeness"] > 0.95
    assert good["dci.informativeness_test"] == pytest.approx(1.0)
    assert bad["dci.disentanglement"] < 0.1 and bad["dci.completeness"] < 0.1
    chance = np.mean([1 / s for s in SIZES])
    assert bad["dci.informativeness_test"] < chance + 0.1


def test_beta_vae_and_factor_vae_extremes(table):
    y, perfect, noise = table
    assert beta_vae_score(perfect, y, fast=True)["beta_vae.eval_accuracy"] == 1.0
    assert beta_vae_score(noise, y, fast=True)["beta_vae.eval_accuracy"] < 0.6
    assert factor_vae_score(perfect, y, fast=True)["factor_vae.eval_accuracy"] == 1.0
    assert factor_vae_score(noise, y, fast=True)["factor_vae.eval_accuracy"] < 0.6


def test_gbt_reference_importance_agrees_on_a_perfect_code(table):
    y, perfect, _ = table
    out = dci(perfect[::4], y[::4], importance="gbt")
    assert out["dci.estimator"] == "GradientBoostingClassifier()"
    assert out["dci.disentanglement"] > 0.95 and out["dci.completeness"] > 0.95


# ---- invariances ------------------------------------------------------------------------


@settings(max_examples=8, deadline=None)
@given(st.permutations(range(4)), st.integers(0, 2**16))
def test_mig_sap_factor_vae_invariant_to_permuting_dims(perm, seed):
    rng = np.random.default_rng(seed)
    y = grid(8)
    z = np.concatenate([y + 0.3 * rng.normal(size=y.shape), rng.normal(size=(len(y), 1))], 1)
    zp = z[:, list(perm)]
    assert mig(zp, y)["mig"] == pytest.approx(mig(z, y)["mig"], abs=1e-12)
    assert sap(zp, y)["sap"] == pytest.approx(sap(z, y)["sap"], abs=1e-12)
    kw = {"num_train": 200, "num_eval": 100}
    assert factor_vae_score(zp, y, **kw) == factor_vae_score(z, y, **kw)


def test_dci_and_beta_vae_invariant_to_permuting_dims(table):
    y, perfect, _ = table
    rng = np.random.default_rng(1)
    z = perfect + 0.4 * rng.normal(size=perfect.shape)
    perm = [2, 0, 3, 1]
    a, b = dci(z, y), dci(z[:, perm], y)
    for key in ("dci.disentanglement", "dci.completeness", "dci.informativeness_test"):
        assert b[key] == pytest.approx(a[key], abs=0.05)  # tree tie-breaking is seeded per order
    a, b = beta_vae_score(z, y, fast=True), beta_vae_score(z[:, perm], y, fast=True)
    assert b["beta_vae.eval_accuracy"] == pytest.approx(a["beta_vae.eval_accuracy"], abs=0.01)


def test_mig_invariant_to_affine_rescaling_of_a_dim(table):
    y, perfect, noise = table
    z = perfect + noise
    scaled = z * np.array([3.0, 1.0, 0.01, 7.0]) + 5.0
    assert mig(scaled, y)["mig"] == pytest.approx(mig(z, y)["mig"], abs=1e-9)


# ---- hand-computed values ---------------------------------------------------------------


def test_mig_hand_computed_example():
    # z0 copies factor a; z1 = a AND b. With 2 bins the codes are the values themselves.
    z = np.array([[0, 0], [0, 0], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    ln2 = math.log(2)
    h_z1 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    i_z1 = h_z1 - ln2 / 2  # I(z1; a) = I(z1; b) = H(z1) - H(z1 | .)
    out = mig(z, y, n_bins=2, factor_names=["a", "b"])
    assert out["mig.factor.a"] == pytest.approx((ln2 - i_z1) / ln2, abs=1e-12)  # I(z0;a) = ln 2
    assert out["mig.factor.b"] == pytest.approx(i_z1 / ln2, abs=1e-12)  # I(z0;b) = 0
    assert out["mig"] == pytest.approx(0.5, abs=1e-12)


def test_sap_hand_computed_continuous_example():
    a = np.array([0.0, 1.0, 2.0, 3.0])
    b = np.array([0.0, 1.0, 0.0, 1.0])
    # r^2(a, b) = (sum of products of deviations)^2 / (5 * 1) = 1 / 5
    out = sap(np.stack([a, b], 1), np.stack([a, b], 1), continuous_factors=True)
    assert out["sap"] == pytest.approx(1 - 1 / 5, abs=1e-12)
    assert out["sap.num_train"] == 4


def test_dci_hand_computed_importances():
    assert disentanglement(np.eye(3)) == pytest.approx(1.0, abs=1e-6)
    assert completeness(np.eye(3)) == pytest.approx(1.0, abs=1e-6)
    assert disentanglement(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-6)
    # two dims both explain factor 0: each dim is pure (D = 1), the factor is split (C = 0)
    r = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert disentanglement(r) == pytest.approx(1.0, abs=1e-6)
    assert completeness(r) == pytest.approx(0.0, abs=1e-6)


def _plugin_mi(a: np.ndarray, b: np.ndarray) -> float:
    """MI in nats from an explicit contingency table (independent of sklearn)."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    p = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(p, (ia, ib), 1.0)
    p /= p.sum()
    outer = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / outer[nz])).sum())


def test_mig_agrees_with_an_independent_histogram_estimate():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, size=(500, 2))
    z = np.concatenate([y + rng.normal(scale=0.8, size=y.shape), rng.normal(size=(500, 1))], 1)
    gaps = []
    for k in range(2):
        mis = []
        for i in range(3):
            edges = np.linspace(z[:, i].min(), z[:, i].max(), 21)[:-1]  # 20 equal-width bins
            mis.append(_plugin_mi(np.searchsorted(edges, z[:, i], side="right"), y[:, k]))
        top = sorted(mis, reverse=True)
        gaps.append((top[0] - top[1]) / _plugin_mi(y[:, k], y[:, k]))
    assert mig(z, y)["mig"] == pytest.approx(np.mean(gaps), abs=1e-9)


def test_histogram_discretize_uses_equal_width_bins_per_dim():
    z = np.array([[0.0, 5.0], [0.5, 5.0], [1.0, 5.0], [0.26, 5.0]])
    codes = histogram_discretize(z, 4)
    assert codes[:, 0].tolist() == [1, 3, 4, 2]  # edges 0, .25, .5, .75 (max goes in the last)
    assert np.unique(codes[:, 1]).shape == (1,)  # a constant dim is a single bin


# ---- sampling from the table (BetaVAE / FactorVAE deviation) ----------------------------


def test_partners_share_the_fixed_factor_value():
    y = grid(3)
    groups = FactorGroups(y)
    rng = np.random.default_rng(0)
    rows = rng.integers(len(y), size=(50, 7))
    for k in range(y.shape[1]):
        partners = groups.partners(k, rows, rng)
        assert np.array_equal(y[partners, k], y[rows, k])
        assert (partners != rows).any()  # other factors do vary
    assert groups.min_group_size() == 3 * 24 // 4


def test_factor_vae_votes_for_the_true_dim_after_pruning(table):
    y, perfect, _ = table
    z = np.concatenate([np.full((len(y), 1), 2.0), perfect[:, :3]], 1)  # dim 0 collapsed
    out = factor_vae_score(z, y, fast=True)
    assert out["factor_vae.num_active_dims"] == 3
    assert out["factor_vae.eval_accuracy"] == 1.0


# ---- protocol and determinism -----------------------------------------------------------


def test_every_metric_carries_its_protocol(table):
    y, perfect, _ = table
    for fn, name in [
        (mig, "mig"),
        (sap, "sap"),
        (dci, "dci"),
        (beta_vae_score, "beta_vae"),
        (factor_vae_score, "factor_vae"),
    ]:
        out = fn(perfect, y, fast=True, seed=7)
        scores, protocol = split_scores(out)
        assert scores and all(k.startswith(name) for k in out)
        assert protocol[f"{name}.seed"] == 7 and protocol[f"{name}.fast"] is True
        assert f"{name}.n_rows" in protocol and any(k.endswith("estimator") for k in protocol)
        assert fn(perfect, y, fast=True, seed=7) == out  # same seed, same numbers
    assert mig(perfect, y)["mig.n_bins"] == 20
    assert mig(perfect, y)["mig.estimator"] == "histogram-discretized"


def test_fast_presets_and_explicit_sizes(table):
    y, perfect, _ = table
    assert dci(perfect, y, fast=True)["dci.num_train"] == 640  # 960 rows < 1000 + 500: 2:1
    assert mig(perfect, y, num_train=100)["mig.num_train"] == 100
    assert factor_vae_score(perfect, y, fast=True)["factor_vae.num_train"] == 700


def test_accepts_torch_tensors(table):
    y, perfect, _ = table
    a = mig(torch.from_numpy(perfect).float(), torch.from_numpy(y))["mig"]
    assert a == pytest.approx(mig(perfect, y)["mig"], abs=1e-6)


# ---- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [mig, sap, dci, beta_vae_score, factor_vae_score])
def test_bad_inputs_raise_clear_errors(fn, table):
    y, perfect, _ = table
    with pytest.raises(InvalidInputError, match=r"latents has N=960 rows but factors has N=959"):
        fn(perfect, y[:-1])
    constant = y.copy()
    constant[:, 1] = 4
    with pytest.raises(InvalidInputError, match=r"factor column 1 .* single value 4"):
        fn(perfect, constant)
    with pytest.raises(InvalidInputError, match=r"2-D \(N, d\)"):
        fn(perfect[None], y)
    bad = perfect.copy()
    bad[3, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        fn(bad, y)
    with pytest.raises(InvalidInputError, match="non-integer"):
        fn(perfect, y + 0.5)
    with pytest.raises(InvalidInputError, match="seed"):
        fn(perfect, y, seed=-1)


def test_metric_specific_bad_inputs(table):
    y, perfect, _ = table
    with pytest.raises(InvalidInputError, match="importance='lasso'"):
        dci(perfect, y, importance="lasso")
    with pytest.raises(InvalidInputError, match="n_bins=1"):
        mig(perfect, y, n_bins=1)
    with pytest.raises(InvalidInputError, match="d >= 2"):
        mig(perfect[:, :1], y)
    with pytest.raises(InvalidInputError, match="factor_names"):
        mig(perfect, y, factor_names=["a", "a", "b"])
    with pytest.raises(InvalidInputError, match="K >= 2"):
        beta_vae_score(perfect, y[:, :1])
    with pytest.raises(LatentOpsError, match="num_train=0"):
        mig(perfect, y, num_train=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_metrics_accept_cuda_tensors(table):
    y, perfect, _ = table
    z = torch.from_numpy(perfect).cuda()
    assert mig(z, torch.from_numpy(y).cuda()) == mig(perfect, y)
    assert factor_vae_score(z, y, fast=True) == factor_vae_score(perfect, y, fast=True)
