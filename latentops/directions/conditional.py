"""Conditional directions and entanglement: orthogonalising against other attributes.

Editing along v also moves every attribute c with v·c != 0 (InterFaceGAN's smile that also
changes age). The conditional direction v - sum_i (v·c_i) c_i, with c_i an orthonormal basis
of the others (Gram-Schmidt), leaves every other projection z·c unchanged while editing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from latentops.directions.direction import Direction
from latentops.errors import InvalidInputError

# Below this residual norm (relative to |v| = 1) v is treated as lying in the span.
_SPAN_TOL = 1e-6


def _named(
    directions: Sequence[Direction] | Mapping[str, Direction],
) -> list[tuple[str, Direction]]:
    """(name, direction) pairs: mapping keys, else the label / method and position."""
    items = directions.items() if isinstance(directions, Mapping) else enumerate(directions)
    pairs = []
    for key, direction in items:
        if not isinstance(direction, Direction):
            raise InvalidInputError(
                f"entry {key!r} is a {type(direction).__name__}, not a Direction; "
                "wrap raw vectors with manual_direction(vector)"
            )
        name = str(key) if isinstance(directions, Mapping) else direction.label
        if name is None or any(name == seen for seen, _ in pairs):  # keep metric keys unique
            name = f"{name or direction.method}[{key}]"
        pairs.append((name, direction))
    return pairs


def _check_same_d(pairs: list[tuple[str, Direction]], d: int, what: str) -> None:
    for name, direction in pairs:
        if direction.d != d:
            raise InvalidInputError(
                f"{name!r} has d={direction.d} but {what} has d={d}; all directions must "
                "come from the same latent space"
            )


def gram_schmidt(vectors: np.ndarray) -> np.ndarray:
    """An orthonormal basis (r, d) of the span of (k, d) ``vectors``; dependent ones are skipped."""
    basis: list[np.ndarray] = []
    for v in vectors.astype(np.float64):
        for _ in range(2):  # re-orthogonalise once: classical GS loses orthogonality otherwise
            for b in basis:
                v = v - (v @ b) * b
        norm = np.linalg.norm(v)
        if norm > _SPAN_TOL:
            basis.append(v / norm)
    return np.array(basis).reshape(len(basis), vectors.shape[1])


def orthogonalize(
    v: Direction, against: Sequence[Direction] | Mapping[str, Direction]
) -> Direction:
    """v - Σ (v·cᵢ)cᵢ over an orthonormal basis cᵢ of ``against``: a conditional direction."""
    pairs = _named(against)
    if not pairs:
        raise InvalidInputError("orthogonalize needs at least one direction to condition on")
    _check_same_d(pairs, v.d, "the direction to orthogonalise")
    names = [name for name, _ in pairs]
    basis = gram_schmidt(np.stack([c.vector for _, c in pairs]))  # (r, d)
    x = v.vector.astype(np.float64)  # (d,)
    residual = x - basis.T @ (basis @ x)  # (d,)
    residual -= basis.T @ (basis @ residual)  # a second pass removes round-off of the first
    norm = float(np.linalg.norm(residual))
    if norm <= _SPAN_TOL:
        raise InvalidInputError(
            f"direction lies in the span of {names} (residual norm {norm:.2g}); nothing is left "
            "after removing them, so condition on fewer directions"
        )
    out = residual / norm
    metrics: dict[str, float] = {"cos_to_parent": float(out @ x)}
    for name, c in pairs:
        metrics[f"cos_before.{name}"] = float(x @ c.vector.astype(np.float64))
        metrics[f"cos_after.{name}"] = float(out @ c.vector.astype(np.float64))
    return Direction(
        vector=out,
        method=v.method,
        params={**v.params, "orthogonal_to": names},
        metrics=metrics,
        label=v.label,
        kind=v.kind,
        operation="project",
        sign=v.sign,
        component=v.component,
    )


def cosine_matrix(directions: Sequence[Direction] | Mapping[str, Direction]) -> np.ndarray:
    """(k, k) cosine similarities between directions (1 on the diagonal)."""
    pairs = _named(directions)
    if not pairs:
        return np.zeros((0, 0))
    _check_same_d(pairs, pairs[0][1].d, repr(pairs[0][0]))
    m = np.stack([d.vector.astype(np.float64) for _, d in pairs])  # (k, d)
    return np.clip(m @ m.T, -1.0, 1.0)


def entanglement(direction: Direction, others: Mapping[str, Direction]) -> dict[str, float]:
    """Cosine of ``direction`` with each named other direction (|cos| near 1 = entangled)."""
    pairs = _named(others)
    _check_same_d(pairs, direction.d, "the direction")
    return {name: direction.cosine(other) for name, other in pairs}
