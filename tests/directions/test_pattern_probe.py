"""Pattern vs filter directions, the inactive-dimension share, strengths in data-std units and
the nonlinear (k-NN) probe next to the linear one, on planted codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentops.directions import Direction, fit_direction, probe_flags
from latentops.errors import InvalidInputError

N = 3000


def _arc(span: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An attribute laid on an arc of ``span`` radians in dims 0-1, noise in dims 2-5."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, span, N)
    z = np.c_[np.cos(theta), np.sin(theta), 0.3 * rng.standard_normal((N, 4))]
    return (z + 0.02 * rng.standard_normal(z.shape)).astype(np.float32), theta


def test_curved_code_is_flagged_encoded_but_not_linearly() -> None:
    z, theta = _arc(1.9 * np.pi)
    m = fit_direction(z, theta, "ridge").metrics
    assert m["linear_r2"] < 0.8  # a straight readout misses most of a curved code
    assert m["knn_r2"] > 0.95  # all of z still tells theta apart
    assert "encoded, but not linearly" in probe_flags(m)


def test_straight_code_is_not_flagged() -> None:
    rng = np.random.default_rng(1)
    z = rng.standard_normal((N, 6)).astype(np.float32)
    m = fit_direction(z, z[:, 0] + 0.1 * rng.standard_normal(N), "ridge").metrics
    assert m["linear_r2"] > 0.95 and m["knn_r2"] < m["linear_r2"] + 0.05
    assert probe_flags(m) == []


def test_knn_accuracy_sees_a_ring_class_a_linear_classifier_cannot() -> None:
    rng = np.random.default_rng(2)
    z = rng.standard_normal((N, 4)).astype(np.float32)
    inside = np.linalg.norm(z[:, :2], axis=1) < 1.0  # a disc: no hyperplane separates it
    m = fit_direction(z, inside, "logistic").metrics
    assert m["knn_accuracy"] > 0.9 and m["knn_accuracy"] - m["linear_accuracy"] > 0.15
    assert "encoded, but not linearly" in probe_flags(m)


def _noise_cancelling_code() -> tuple[np.ndarray, np.ndarray]:
    """Dim 0 = y + noise; dim 1 carries only that noise at std 0.05 (an 'inactive' dim)."""
    rng = np.random.default_rng(3)
    y, noise = rng.standard_normal(N), rng.standard_normal(N)
    z = np.c_[y + noise, 0.05 * noise, rng.standard_normal((N, 2))]
    return z.astype(np.float32), y


def test_filter_leans_on_an_inactive_dim_the_pattern_does_not() -> None:
    z, y = _noise_cancelling_code()
    filt = fit_direction(z, y, "ridge", form="filter", alpha=1e-3)
    pattern = fit_direction(z, y, "ridge", alpha=1e-3)
    # the filter cancels dim 0's noise through dim 1: the best readout, a useless edit
    assert filt.metrics["linear_r2"] > 0.95
    assert filt.metrics["n_inactive_dims"] == 1 and filt.metrics["inactive_share"] > 0.9
    assert any("inactive dimensions" in f for f in probe_flags(filt.metrics))
    # the pattern Cov(z) w = Cov(z, y) points along dim 0, where y varies in the data
    assert pattern.metrics["inactive_share"] < 0.01
    assert pattern.metrics["filter_inactive_share"] > 0.9
    assert abs(pattern.vector[0]) > 0.99 and pattern.form == "pattern"
    np.testing.assert_allclose(pattern.filter, filt.vector, atol=1e-6)
    assert pattern.params["form"] == "pattern" and filt.filter is None
    assert not any("inactive" in f for f in probe_flags(pattern.metrics))


def test_strengths_are_in_data_std_units_along_the_direction() -> None:
    z, y = _noise_cancelling_code()
    d = fit_direction(z, y, "ridge")
    spread = float(np.std(z @ d.vector))
    assert d.std == pytest.approx(spread, rel=0.03) and d.strength_unit == "std"
    np.testing.assert_allclose(d.offsets([-2.0, 0.0, 1.0]), [-2 * d.std, 0.0, d.std])
    pc = fit_direction(z, None, "pca", holdout=0.0)  # a principal axis: its own std
    assert pc.std == pytest.approx(float(np.std(z @ pc.vector)), rel=0.01)
    # a manual vector has seen no data: strengths stay latent distances
    manual = Direction(vector=np.ones(4), method="manual")
    assert manual.strength_unit == "raw" and manual.offsets([1.5]).tolist() == [1.5]


def test_card_round_trip_keeps_form_and_std() -> None:
    d = fit_direction(*_arc(np.pi), "ridge")
    card = json.loads(json.dumps(d.to_card(), allow_nan=False))
    assert card["form"] == "pattern" and card["strength_unit"] == "std"
    again = Direction.from_card(card, d.vector)
    assert again.form == d.form and again.std == d.std and again.to_card() == d.to_card()
    np.testing.assert_array_equal(again.filter, d.filter)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"form": "pattern", "std": 0.0}, "std=0.0"), ({"form": "weights"}, "form='weights'")],
)
def test_bad_form_or_std_is_one_clear_error(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        Direction(vector=np.ones(3), method="manual", **kwargs)


def test_fit_rejects_an_unknown_form() -> None:
    z, y = _noise_cancelling_code()
    with pytest.raises(InvalidInputError, match="form='both' is not one of"):
        fit_direction(z, y, "ridge", form="both")


def test_a_label_the_latents_do_not_encode_is_flagged_at_chance() -> None:
    rng = np.random.default_rng(4)
    z = rng.standard_normal((N, 4)).astype(np.float32)
    shape = rng.integers(0, 3, N)  # one-vs-rest: 2/3 of the rows are negatives
    m = fit_direction(z, shape == 2, "logistic").metrics
    assert probe_flags(m) == ["not encoded (probes at chance)"]
    assert probe_flags(fit_direction(z, rng.standard_normal(N), "ridge").metrics) == [
        "not encoded (probes at chance)"
    ]
