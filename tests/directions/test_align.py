"""Alignments between latent spaces: a planted rotation is recovered; bad pairs are refused."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from latentops.directions import fit_direction
from latentops.directions.align import fit_alignment, procrustes_distances
from latentops.directions.transfer import carry_direction
from latentops.errors import InvalidInputError


def _planted(n: int = 400, d: int = 6, noise: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * np.linspace(0.5, 2.0, d)  # (n, d), unequal spreads
    r = ortho_group.rvs(d, random_state=seed)  # (d, d), a rotation or reflection
    y = x @ r + 3.0 + noise * rng.normal(size=(n, d))  # T2 = R T1 + shift + noise
    return x, y, r


def test_procrustes_recovers_a_planted_rotation():
    x, y, r = _planted()
    fitted = fit_alignment(x, y, "procrustes")
    np.testing.assert_allclose(fitted.matrix, r, atol=5e-3)
    np.testing.assert_allclose(fitted.matrix @ fitted.matrix.T, np.eye(6), atol=1e-10)
    assert fitted.metrics["heldout_rel_error"] < 1e-3
    assert (fitted.metrics["n_train"], fitted.metrics["n_holdout"]) == (320, 80)
    v = np.eye(6)[2]
    np.testing.assert_allclose(fitted.carry(v), r[2] / np.linalg.norm(r[2]), atol=5e-3)
    # the held-out error grows with the noise: it measures something
    noisy = fit_alignment(*_planted(noise=1.0)[:2], "procrustes")
    assert noisy.metrics["heldout_rel_error"] > 50 * fitted.metrics["heldout_rel_error"]


def test_affine_handles_another_latent_size_and_scaled_axes():
    x, _, _ = _planted()
    a = np.random.default_rng(1).normal(size=(6, 4))  # d1=6 -> d2=4
    fitted = fit_alignment(x, x @ a - 1.0, "affine")
    np.testing.assert_allclose(fitted.matrix, a, atol=1e-8)
    np.testing.assert_allclose(fitted.bias, -1.0, atol=1e-8)
    assert fitted.metrics["heldout_rel_error"] < 1e-12
    # a rescaled copy is no rotation: procrustes leaves a real error, affine none
    scaled = x * np.array([1, 1, 1, 1, 1, 10.0])
    assert fit_alignment(x, scaled, "procrustes").metrics["heldout_rel_error"] > 0.05
    assert fit_alignment(x, scaled, "affine").metrics["heldout_rel_error"] < 1e-12


def test_bad_pairs_are_refused_with_the_fix():
    x, y, _ = _planted(n=7)
    with pytest.raises(InvalidInputError, match=r"only 7 shared item\(s\) .* needs at least 7"):
        fit_alignment(x, y, "procrustes")  # 6 to fit after holding one out: < d + 1
    with pytest.raises(InvalidInputError, match="use the affine map"):
        fit_alignment(x, y[:, :4], "procrustes")
    with pytest.raises(InvalidInputError, match="same item order"):
        fit_alignment(x, y[:5], "affine")
    with pytest.raises(InvalidInputError, match="not one of"):
        fit_alignment(x, y, "rigid")


def test_procrustes_distances_match_a_numpy_fit_on_all_rows():
    x, y, _ = _planted(noise=0.3)
    mx, my = x.mean(0), y.mean(0)
    u, _, vt = np.linalg.svd((x - mx).T @ (y - my))
    expect = np.linalg.norm((x - mx) @ (u @ vt) + my - y, axis=1)
    np.testing.assert_allclose(procrustes_distances(x, y), expect, rtol=1e-10)


def test_a_carried_direction_scores_like_a_refit_under_a_planted_rotation():
    x, y, r = _planted(n=600, noise=0.05)
    label = x[:, 0] + 0.3 * x[:, 1] > 0  # (n,) bool
    source = fit_direction(x, label, "logistic", label="c")
    carried, refit = carry_direction(source, fit_alignment(x, y), y, label, {})
    assert carried.metrics["auc"] == pytest.approx(refit.metrics["auc"], abs=0.01)
    assert carried.metrics["refit_auc"] == refit.metrics["auc"]
    assert carried.cosine(refit) > 0.99  # the rotated vector is the target's own fit
    np.testing.assert_allclose(carried.vector, source.vector @ r, atol=0.02)
