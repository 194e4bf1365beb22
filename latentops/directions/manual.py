"""Manual directions: a user-supplied vector or a coordinate axis of the latent space."""

from __future__ import annotations

import numpy as np
import torch

from latentops._validate import is_int
from latentops.directions.direction import Direction
from latentops.errors import InvalidInputError


def manual_direction(
    vector: np.ndarray | torch.Tensor | list[float] | None = None,
    *,
    axis: int | None = None,
    d: int | None = None,
    label: str | None = None,
    sign: int = 1,
) -> Direction:
    """A Direction from a vector (normalised) or the unit ``axis`` of a ``d``-dim space."""
    if (vector is None) == (axis is None):
        raise InvalidInputError(
            "pass exactly one of vector=... (any non-zero (d,) vector) or axis=i with d=..."
        )
    if d is not None and not is_int(d, 1, numpy=True):
        raise InvalidInputError(f"d={d!r} must be a positive int (the latent dimension)")
    if axis is not None:
        if d is None:
            raise InvalidInputError(f"axis={axis!r} needs d=... (the latent dimension) too")
        if not is_int(axis, numpy=True) or not 0 <= axis < d:
            raise InvalidInputError(f"axis={axis!r} must be an int in [0, {d - 1}] for d={d}")
        v = np.zeros(int(d), dtype=np.float32)
        v[int(axis)] = 1.0
        params: dict = {"source": "axis", "axis": int(axis)}
    else:
        v = vector.detach().cpu().numpy() if isinstance(vector, torch.Tensor) else vector
        v = np.asarray(v)
        if d is not None and (v.ndim != 1 or v.shape[0] != d):
            raise InvalidInputError(
                f"vector has shape {v.shape} but d={d} was expected; use a vector from the "
                "same latent space as the table"
            )
        params = {"source": "vector"}
    return Direction(
        vector=v, method="manual", params=params, label=label, kind="manual", sign=sign
    )
