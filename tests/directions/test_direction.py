"""The Direction value: normalisation, validation, card round trip, cosine."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latentops.directions import Direction, fit_direction
from latentops.errors import CorruptArtifactError, InvalidInputError


def _fitted() -> Direction:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((600, 5)).astype(np.float32)
    return fit_direction(z, z[:, 0] + 0.2 * z[:, 1] > 0, "logistic", label="shape==2")


def test_vector_is_unit_float32_and_read_only() -> None:
    d = Direction(vector=torch.tensor([3.0, 0.0, 4.0], dtype=torch.float64), method="manual")
    assert d.vector.dtype == np.float32 and d.d == 3
    np.testing.assert_allclose(d.vector, [0.6, 0.0, 0.8], rtol=1e-7)
    with pytest.raises(ValueError, match="read-only"):
        d.vector[0] = 1.0


def test_card_round_trip_through_json() -> None:
    original = _fitted()
    card = json.loads(json.dumps(original.to_card(), allow_nan=False))
    assert "vector" not in card and card["d"] == 5
    again = Direction.from_card(card, original.vector.tolist())
    np.testing.assert_array_equal(again.vector, original.vector)
    for name in ("method", "params", "metrics", "label", "kind", "operation", "sign", "component"):
        assert getattr(again, name) == getattr(original, name), name
    assert again.to_card() == original.to_card()


def test_from_card_ignores_extra_keys_and_checks_d() -> None:
    card = {**_fitted().to_card(), "name": "smile", "version": 3}
    assert Direction.from_card(card, np.ones(5)).d == 5
    with pytest.raises(InvalidInputError, match="card says d=5 but the vector has d=4"):
        Direction.from_card(card, np.ones(4))
    with pytest.raises(CorruptArtifactError, match=r"lacks \['kind'\]"):
        Direction.from_card({"method": "pca"}, np.ones(4))
    with pytest.raises(CorruptArtifactError, match="newer than this latentops"):
        Direction.from_card({**card, "card_version": 99}, np.ones(5))


def test_params_are_copied_not_shared() -> None:
    params = {"a": [1, 2]}
    d = Direction(vector=np.ones(2), method="manual", params=params)
    params["a"].append(3)
    assert d.params == {"a": [1, 2]}


def test_cosine() -> None:
    a = Direction(vector=np.array([1.0, 0.0]), method="manual")
    b = Direction(vector=np.array([1.0, 1.0]), method="manual")
    assert a.cosine(b) == pytest.approx(np.sqrt(0.5))
    assert a.cosine(a) == 1.0
    with pytest.raises(InvalidInputError, match="d=2 direction with a d=3"):
        a.cosine(Direction(vector=np.ones(3), method="manual"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vector": np.zeros(4)}, "norm 0"),
        ({"vector": np.array([1.0, np.nan])}, "NaN/inf"),
        ({"vector": np.ones((2, 3))}, "must be 1-D"),
        ({"vector": np.array([])}, "must be 1-D"),
        ({"vector": ["a", "b"]}, "not numeric"),
        ({"kind": "magic"}, "kind='magic'"),
        ({"operation": "scale"}, "operation='scale'"),
        ({"sign": 2}, "sign=2"),
        ({"component": -1}, "component=-1"),
        ({"params": {"v": np.ones(2)}}, "JSON-serialisable"),
        ({"metrics": {"acc": "high"}}, "metric 'acc'"),
        ({"metrics": {"auc": float("nan")}}, "leave an undefined metric out"),
        ({"method": ""}, "non-empty string"),
    ],
)
def test_validation(kwargs: dict, match: str) -> None:
    base = {"vector": np.ones(4), "method": "manual"}
    with pytest.raises(InvalidInputError, match=match):
        Direction(**{**base, **kwargs})


def test_numpy_metric_scalars_become_python_numbers() -> None:
    d = Direction(
        vector=np.ones(2), method="manual", metrics={"n": np.int64(3), "auc": np.float32(0.5)}
    )
    assert type(d.metrics["n"]) is int and type(d.metrics["auc"]) is float
