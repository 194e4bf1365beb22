"""PCA against numpy / scikit-learn, SeFa against a direct eigh, manual directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from latentops.directions import (
    fit_direction,
    fit_directions,
    manual_direction,
    sefa_directions,
)


@pytest.fixture(scope="module")
def table() -> np.ndarray:
    """Latents whose largest-variance axis is a known unit vector u (variance 9 vs <= 2)."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5000, 10)) * np.linspace(1.4, 0.5, 10)  # (N, 10)
    u = rng.standard_normal(10)
    u /= np.linalg.norm(u)
    z += np.outer(rng.standard_normal(5000) * 3.0, u) + 7.0
    return z.astype(np.float32), u


def test_pca_recovers_top_variance_axis(table) -> None:
    z, u = table
    top = fit_direction(z, method="pca", holdout=0.0)
    assert abs(float(top.vector @ u)) >= 0.99
    assert top.component == 0 and top.kind == "unsupervised"


def test_pca_matches_numpy_and_sklearn(table) -> None:
    z, _ = table
    found = fit_directions(z, method="pca", n_components=4, holdout=0.0)
    evals, evecs = np.linalg.eigh(np.cov(z.astype(np.float64), rowvar=False))
    evals, evecs = evals[::-1], evecs[:, ::-1]
    ratios = [d.metrics["explained_variance_ratio"] for d in found]
    np.testing.assert_allclose(ratios, evals[:4] / evals.sum(), rtol=1e-6)
    np.testing.assert_allclose(
        [d.metrics["explained_variance"] for d in found], evals[:4], rtol=1e-6
    )
    for i, d in enumerate(found):
        assert abs(float(d.vector @ evecs[:, i])) == pytest.approx(1.0, abs=1e-5)
    ref = PCA(n_components=4, svd_solver="full").fit(z.astype(np.float64))
    # same sign convention as sklearn (largest-|loading| coordinate positive)
    np.testing.assert_allclose(np.stack([d.vector for d in found]), ref.components_, atol=1e-5)
    np.testing.assert_allclose(ratios, ref.explained_variance_ratio_, rtol=1e-6)


def test_pca_components_orthonormal_and_ranked(table) -> None:
    z, _ = table
    found = fit_directions(z, method="pca", n_components=5)
    m = np.stack([d.vector for d in found]).astype(np.float64)
    np.testing.assert_allclose(m @ m.T, np.eye(5), atol=1e-6)
    ratios = [d.metrics["explained_variance_ratio"] for d in found]
    assert ratios == sorted(ratios, reverse=True)
    assert found[0].metrics["heldout_variance_ratio"] == pytest.approx(ratios[0], abs=0.03)
    assert fit_direction(z, method="pca", component=2).cosine(found[2]) == pytest.approx(1.0)


def _sefa_reference(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-normalised A, eigenvalues (descending) and eigenvectors (rows) of A^T A."""
    a = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(a.T @ a)
    return a, evals[::-1], evecs[:, ::-1].T


def test_sefa_matches_direct_eigh() -> None:
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((64, 12)) * rng.uniform(0.1, 5.0, (64, 1))  # uneven units
    found = sefa_directions(weight, 4)
    a, evals, evecs = _sefa_reference(weight)
    for i, d in enumerate(found):
        assert abs(float(d.vector @ evecs[i])) == pytest.approx(1.0, abs=1e-5)
        assert d.metrics["eigenvalue"] == pytest.approx(evals[i], rel=1e-9)
        assert d.metrics["eigenvalue_share"] == pytest.approx(evals[i] / evals.sum(), rel=1e-9)
        assert d.component == i and d.method == "sefa"
    # each direction maximises the first layer's response: |A v| equals sqrt(eigenvalue)
    assert np.linalg.norm(a @ found[0].vector) == pytest.approx(np.sqrt(evals[0]), rel=1e-5)


def test_sefa_through_fit_directions_with_torch_weight() -> None:
    layer = torch.nn.Linear(6, 40)  # a first decoder layer: weight (out=40, d=6)
    found = fit_directions(
        torch.zeros(3, 6), method="sefa", weight=layer.weight, n_components=3, label="pose"
    )
    ref = sefa_directions(layer.weight.detach().numpy(), 3)
    for a, b in zip(found, ref, strict=True):
        np.testing.assert_allclose(a.vector, b.vector, atol=1e-6)
        assert a.label == "pose"
    assert found[0].params["weight_shape"] == [40, 6]
    single = fit_direction(None, method="sefa", weight=layer.weight, component=1)
    np.testing.assert_allclose(single.vector, ref[1].vector, atol=1e-6)


def test_manual_axis_and_vector() -> None:
    axis = manual_direction(axis=3, d=5, label="x")
    np.testing.assert_array_equal(axis.vector, np.eye(5, dtype=np.float32)[3])
    vec = manual_direction([3.0, 4.0])
    np.testing.assert_allclose(vec.vector, [0.6, 0.8], rtol=1e-6)
    assert vec.kind == "manual" and vec.params == {"source": "vector"}


def test_manual_measured_against_labels_sets_sign() -> None:
    rng = np.random.default_rng(2)
    z = rng.standard_normal((3000, 4)).astype(np.float32)
    t = z[:, 1] < 0  # MORE of the label means LESS of coordinate 1
    measured = fit_direction(z, t, "manual", axis=1)
    assert measured.sign == -1 and measured.metrics["auc"] == pytest.approx(1.0)
    np.testing.assert_array_equal(measured.vector, np.eye(4, dtype=np.float32)[1])
    y = 2.0 * z[:, 2] + 0.1 * rng.standard_normal(3000)
    ridge_like = fit_direction(z, y, "manual", axis=2)
    assert ridge_like.sign == 1 and ridge_like.metrics["r2"] > 0.99
