"""Planted-direction recovery: each method must find ITS target, which differs between methods.

The data are anisotropic on purpose: with a shared class covariance S and mean gap delta,
the difference of means is delta but the Bayes (logistic / SVM) normal is S^-1 delta, and a
ridge fit of y = z·w recovers w while the naive correlation direction is S w. Each target is
at cosine < 0.9 from the other, so a method returning the wrong one fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentops.directions import fit_direction

D = 8


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def covariance() -> np.ndarray:
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    return q @ np.diag(np.geomspace(0.2, 4.0, D)) @ q.T  # (D, D), condition number 20


@pytest.fixture(scope="module")
def two_classes(covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two Gaussian classes with shared covariance, Mahalanobis gap 1.5, offset +3."""
    rng = np.random.default_rng(2)
    n = 20_000
    delta = rng.standard_normal(D)
    delta *= 1.5 / np.sqrt(delta @ np.linalg.solve(covariance, delta))
    t = rng.random(n) < 0.4
    noise = rng.standard_normal((n, D)) @ np.linalg.cholesky(covariance).T
    z = noise + np.where(t[:, None], delta / 2, -delta / 2) + 3.0  # (n, D)
    return z.astype(np.float32), t, delta


def test_targets_are_distinguishable(covariance: np.ndarray, two_classes) -> None:
    _, _, delta = two_classes
    assert _cos(delta, np.linalg.solve(covariance, delta)) < 0.9


def test_mean_diff_recovers_class_mean_gap(two_classes) -> None:
    z, t, delta = two_classes
    direction = fit_direction(z, t, "mean_diff")
    assert _cos(direction.vector, delta) >= 0.99
    assert direction.kind == "classification" and direction.sign == 1


@pytest.mark.parametrize("method", ["logistic", "linear_svm"])
def test_linear_classifiers_recover_bayes_normal(method: str, covariance, two_classes) -> None:
    z, t, delta = two_classes
    direction = fit_direction(z, t, method, form="filter")
    assert _cos(direction.vector, np.linalg.solve(covariance, delta)) >= 0.99
    assert direction.form == "filter"


@pytest.mark.parametrize("method", ["logistic", "linear_svm"])
def test_pattern_of_the_bayes_normal_is_the_class_mean_gap(method: str, covariance, two_classes):
    """Haufe et al.: the pattern Cov(z) S^-1 delta of the discriminant is delta itself."""
    z, t, delta = two_classes
    direction = fit_direction(z, t, method)  # form="pattern" is the default for edits
    assert direction.form == "pattern"
    assert _cos(direction.vector, delta) >= 0.99
    # the filter is kept for probing, and the linear probe score is the filter's
    assert _cos(direction.filter, np.linalg.solve(covariance, delta)) >= 0.99
    probe = fit_direction(z, t, method, form="filter").metrics["accuracy"]
    assert direction.metrics["linear_accuracy"] == pytest.approx(probe)
    # strength 1 is one std of the data's projection on the vector
    assert direction.std == pytest.approx(float(np.std(z @ direction.vector)), rel=0.02)


def test_bayes_normal_separates_better_than_mean_gap(two_classes) -> None:
    z, t, _ = two_classes
    auc_md = fit_direction(z, t, "mean_diff").metrics["auc"]
    auc_lr = fit_direction(z, t, "logistic", form="filter").metrics["auc"]
    assert auc_lr > auc_md + 0.02  # the discriminant is the better 1-D separator here


def test_ridge_recovers_regression_weights_not_correlation(covariance: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    z = rng.standard_normal((20_000, D)) @ np.linalg.cholesky(covariance).T  # (n, D)
    w = rng.standard_normal(D)
    assert _cos(w, covariance @ w) < 0.9
    y = z @ w + 0.5 * rng.standard_normal(z.shape[0])
    direction = fit_direction(z.astype(np.float32), y, "ridge", form="filter")
    assert _cos(direction.vector, w) >= 0.99
    pattern = fit_direction(z.astype(np.float32), y, "ridge")
    assert _cos(pattern.vector, covariance @ w) >= 0.99  # where y varies in the data
    assert pattern.metrics["linear_r2"] == pytest.approx(direction.metrics["r2_ridge"])
    # R² of y on the projection: var(z·w) / (var(z·w) + 0.25)
    signal = float(w @ covariance @ w)
    assert direction.metrics["r2"] == pytest.approx(signal / (signal + 0.25), abs=0.01)
    assert direction.metrics["r2_ridge"] == pytest.approx(direction.metrics["r2"], abs=1e-3)
    assert direction.metrics["slope"] == pytest.approx(np.linalg.norm(w), rel=0.02)


def test_ridge_closed_form_matches_sklearn() -> None:
    from sklearn.linear_model import Ridge

    from latentops.directions.regression import ridge_vector

    rng = np.random.default_rng(4)
    z = rng.standard_normal((500, 6)) + 5.0  # an offset: the intercept must not be penalised
    y = z @ rng.standard_normal(6) + rng.standard_normal(500)
    train = rng.random(500) < 0.7
    coef, intercept = ridge_vector(z, y, train, alpha=10.0)
    ref = Ridge(alpha=10.0).fit(z[train], y[train])
    np.testing.assert_allclose(coef, ref.coef_, rtol=1e-8)
    assert intercept == pytest.approx(ref.intercept_, rel=1e-8)


def test_metrics_are_held_out_not_training_fit() -> None:
    """Random labels with d close to N: a training fit separates them, held-out rows do not."""
    rng = np.random.default_rng(9)
    z = rng.standard_normal((400, 150)).astype(np.float32)
    m = fit_direction(z, rng.random(400) < 0.5, "logistic", C=100.0, holdout=0.5).metrics
    assert abs(m["auc"] - 0.5) < 0.12


def test_linear_svm_interfacegan_extremes_of_a_score() -> None:
    rng = np.random.default_rng(5)
    w = rng.standard_normal(D)
    z = rng.standard_normal((20_000, D)).astype(np.float32)
    score = z @ w / np.linalg.norm(w) + rng.standard_normal(20_000)
    direction = fit_direction(z, score, "linear_svm", top_percent=20, class_weight="balanced")
    assert _cos(direction.vector, w) >= 0.99
    assert direction.metrics["n_pos"] == direction.metrics["n_neg"] == 4000
    target = direction.params["target"]
    assert target["rule"] == "extremes" and target["positive_min"] > target["negative_max"]


def test_one_vs_rest_and_sign_orientation() -> None:
    rng = np.random.default_rng(6)
    classes = rng.integers(0, 3, 6000)
    centers = np.eye(3, D) * 3.0
    z = (rng.standard_normal((6000, D)) + centers[classes]).astype(np.float32)
    direction = fit_direction(z, classes, "mean_diff", positive=2)
    # mean(class 2) - mean(classes 0, 1) = 3 e2 - 1.5 (e0 + e1): towards class 2, not away
    expected = np.zeros(D)
    expected[:3] = [-1.5, -1.5, 3.0]
    assert _cos(direction.vector, expected) >= 0.99
    assert direction.params["target"] == {"rule": "one_vs_rest", "positive": 2}
    flipped = fit_direction(z, classes == 2, "logistic")
    assert _cos(flipped.vector, direction.vector) > 0.9


def test_classification_metrics_match_theory() -> None:
    """Unit-variance classes 2 apart along an axis: d' = 2, AUC = Phi(2/sqrt2), acc = Phi(1)."""
    rng = np.random.default_rng(7)
    t = rng.random(40_000) < 0.5
    z = rng.standard_normal((40_000, 4)).astype(np.float32)
    z[:, 0] += np.where(t, 1.0, -1.0)
    m = fit_direction(z, t, "mean_diff").metrics
    assert m["effect_size"] == pytest.approx(2.0, abs=0.06)
    assert m["auc"] == pytest.approx(0.9214, abs=0.01)
    assert m["accuracy"] == pytest.approx(0.8413, abs=0.015)
    assert m["n_pos"] + m["n_neg"] == 40_000 and m["n_holdout"] == 8000


def test_random_labels_score_chance() -> None:
    rng = np.random.default_rng(8)
    z = rng.standard_normal((4000, 6)).astype(np.float32)
    m = fit_direction(z, rng.random(4000) < 0.5, "logistic").metrics
    assert abs(m["auc"] - 0.5) < 0.05 and abs(m["accuracy"] - 0.5) < 0.06


def test_torch_input_gives_the_same_direction(two_classes) -> None:
    z, t, _ = two_classes
    a = fit_direction(z, t, "mean_diff")
    b = fit_direction(torch.from_numpy(z), torch.from_numpy(t), "mean_diff")
    np.testing.assert_array_equal(a.vector, b.vector)
    assert a.metrics == b.metrics


def test_fit_is_deterministic_per_seed(two_classes) -> None:
    z, t, _ = two_classes
    a, b = fit_direction(z, t, "logistic", seed=3), fit_direction(z, t, "logistic", seed=3)
    np.testing.assert_array_equal(a.vector, b.vector)
    assert fit_direction(z, t, "logistic", seed=4).metrics != a.metrics


def test_max_train_caps_rows_and_keeps_class_mix(two_classes) -> None:
    z, t, delta = two_classes
    direction = fit_direction(z, t, "logistic", max_train=2000)
    assert direction.metrics["n_fit"] == 2000
    assert direction.metrics["n_train"] == 16_000
    assert direction.params["max_train"] == 2000


def test_best_threshold_matches_brute_force() -> None:
    from latentops.directions._metrics import best_threshold

    rng = np.random.default_rng(10)
    for _ in range(30):
        p = rng.integers(0, 6, 40).astype(np.float64)  # many ties
        t = rng.random(40) < 0.5
        cut = best_threshold(p, t)
        candidates = np.concatenate([np.unique(p), [p.max() + 1]])
        best = max(np.mean((p >= c) == t) for c in candidates)
        assert np.mean((p >= cut) == t) == pytest.approx(best)


def test_label_expression_to_direction_on_factor_columns() -> None:
    """The flow's path: a factor table, a label expression, then every applicable method."""
    from latentops.directions import applicable_methods, fit_directions, parse_label

    rng = np.random.default_rng(11)
    n = 6000
    columns = {"shape": rng.integers(0, 3, n), "scale": rng.integers(0, 6, n)}
    z = rng.standard_normal((n, D))
    z[:, 0] += 2.0 * (columns["shape"] == 2)  # shape 2 lives along axis 0
    z[:, 1] += 0.5 * columns["scale"]  # scale grows along axis 1
    z = z.astype(np.float32)
    y, spec = parse_label("shape==2", columns)
    for method in applicable_methods(y):
        (direction,) = fit_directions(z, y, method, label=spec["label"])
        assert direction.label == "shape==2" and direction.vector[0] >= 0.99
        # the held-out split is stratified: it keeps the class mix
        share = direction.metrics["n_holdout_pos"] / direction.metrics["n_holdout"]
        assert share == pytest.approx(direction.metrics["n_pos"] / n, abs=1e-3)
    y, spec = parse_label("scale", columns)
    assert applicable_methods(y) == ["ridge"]
    direction = fit_direction(z, y, "ridge", label=spec["label"])
    assert direction.vector[1] >= 0.99
    # slope of y on z·v = cov(z1, scale) / var(z1) = 0.5 var(scale) / (0.25 var(scale) + 1)
    var_scale = 35 / 12  # uniform on 0..5
    expected = 0.5 * var_scale / (0.25 * var_scale + 1)
    assert direction.metrics["slope"] == pytest.approx(expected, rel=0.05)
