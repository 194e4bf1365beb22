"""Orthogonalisation (conditional directions), cosine matrices and entanglement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentops.directions import (
    Direction,
    cosine_matrix,
    entanglement,
    manual_direction,
    orthogonalize,
)
from latentops.errors import InvalidInputError


def _dirs(rng: np.random.Generator, k: int, d: int) -> list[Direction]:
    return [manual_direction(rng.standard_normal(d), label=f"c{i}") for i in range(k)]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4), d=st.integers(5, 12))
def test_orthogonalize_properties(seed: int, k: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    v = manual_direction(rng.standard_normal(d), label="smile")
    others = _dirs(rng, k, d)
    out = orthogonalize(v, others)
    x = out.vector.astype(np.float64)
    assert np.linalg.norm(x) == pytest.approx(1.0, abs=1e-6)
    for c in others:  # orthogonal to every conditioning direction
        assert abs(float(x @ c.vector)) < 1e-5
    # x lies in span{v, c_i}: least-squares residual is zero
    basis = np.stack([v.vector] + [c.vector for c in others]).T.astype(np.float64)
    coef = np.linalg.lstsq(basis, x, rcond=None)[0]
    assert np.linalg.norm(basis @ coef - x) < 1e-5
    # it is the closest unit vector to v with those constraints: cos_to_parent = |residual|
    q, _ = np.linalg.qr(np.stack([c.vector for c in others]).T.astype(np.float64))
    resid = v.vector - q @ (q.T @ v.vector)
    assert out.metrics["cos_to_parent"] == pytest.approx(np.linalg.norm(resid), abs=1e-5)
    again = orthogonalize(out, others)  # idempotent
    np.testing.assert_allclose(again.vector, out.vector, atol=1e-6)


def test_orthogonalize_records_provenance() -> None:
    v = manual_direction([1.0, 1.0, 0.0], label="smile")
    out = orthogonalize(v, {"age@2": manual_direction([1.0, 0.0, 0.0])})
    np.testing.assert_allclose(out.vector, [0.0, 1.0, 0.0], atol=1e-7)
    assert out.operation == "project" and out.label == "smile"
    assert out.params["orthogonal_to"] == ["age@2"]
    assert out.metrics["cos_before.age@2"] == pytest.approx(np.sqrt(0.5))
    assert out.metrics["cos_after.age@2"] == pytest.approx(0.0, abs=1e-7)


def test_orthogonalize_untouched_when_already_orthogonal_and_tolerates_duplicates() -> None:
    v = manual_direction([0.0, 0.0, 1.0])
    c = manual_direction([1.0, 0.0, 0.0])
    out = orthogonalize(v, [c, c, manual_direction([2.0, 0.0, 0.0])])
    np.testing.assert_array_equal(out.vector, v.vector)


def test_orthogonalize_refuses_vector_in_span() -> None:
    v = manual_direction([1.0, 1.0, 0.0])
    others = {"x": manual_direction([1.0, 0.0, 0.0]), "y": manual_direction([0.0, 1.0, 0.0])}
    with pytest.raises(InvalidInputError, match=r"lies in the span of \['x', 'y'\]"):
        orthogonalize(v, others)
    with pytest.raises(InvalidInputError, match="at least one direction"):
        orthogonalize(v, [])
    with pytest.raises(InvalidInputError, match="d=2 but the direction to orthogonalise has d=3"):
        orthogonalize(v, {"z": manual_direction([1.0, 0.0])})
    with pytest.raises(InvalidInputError, match="not a Direction"):
        orthogonalize(v, [np.ones(3)])


def test_cosine_matrix_and_entanglement() -> None:
    rng = np.random.default_rng(0)
    dirs = _dirs(rng, 4, 6)
    m = cosine_matrix(dirs)
    raw = np.stack([d.vector for d in dirs]).astype(np.float64)
    np.testing.assert_allclose(m, raw @ raw.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-6)
    assert cosine_matrix([]).shape == (0, 0)
    ent = entanglement(dirs[0], {"b": dirs[1], "c": dirs[2]})
    assert ent == {"b": pytest.approx(m[0, 1]), "c": pytest.approx(m[0, 2])}
    with pytest.raises(InvalidInputError, match="same latent space"):
        cosine_matrix([dirs[0], manual_direction(np.ones(3))])
