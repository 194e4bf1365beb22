"""Input checks shared by the pure layers: shapes, finiteness, zero norms.

Each check raises InvalidInputError with the offending name, shape or value and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

from latentops.errors import InvalidInputError

ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)


def _is_finite_all(x: torch.Tensor | np.ndarray) -> bool:
    # integer arrays are always finite; np.isfinite handles them too
    if isinstance(x, torch.Tensor):
        return bool(torch.isfinite(x).all())
    return bool(np.isfinite(x).all())


def check_finite(x: ArrayT, name: str) -> ArrayT:
    """Raise if ``x`` holds NaN or inf; return it unchanged otherwise."""
    if not _is_finite_all(x):
        if isinstance(x, torch.Tensor):
            bad = int((~torch.isfinite(x)).sum())
        else:
            bad = int((~np.isfinite(x)).sum())
        raise InvalidInputError(
            f"{name} contains {bad} NaN/inf value(s) (shape {tuple(x.shape)}); "
            "drop or repair those rows (a diverged model produces them) before this step"
        )
    return x


def check_latents(z: ArrayT, name: str = "z", *, d: int | None = None, min_rows: int = 1) -> ArrayT:
    """Check a (N, d) float latent batch: 2-D, at least ``min_rows`` rows, dim ``d``, finite."""
    if z.ndim != 2:
        raise InvalidInputError(
            f"{name} must be a 2-D (N, d) array of latents, got shape {tuple(z.shape)}; "
            "reshape to (N, d) or add a batch dimension with z[None]"
        )
    if z.shape[0] < min_rows:
        raise InvalidInputError(
            f"{name} has {z.shape[0]} rows but at least {min_rows} are needed; "
            "check the filter or split that selected them"
        )
    if d is not None and z.shape[1] != d:
        raise InvalidInputError(
            f"{name} has latent dim d={z.shape[1]} but d={d} was expected; "
            "use latents and directions from the same model"
        )
    return check_finite(z, name)


def check_last_dim(x: ArrayT, d: int, name: str, other: str) -> ArrayT:
    """Raise unless ``x.shape[-1] == d`` (the latent dim of ``other``)."""
    if x.ndim == 0 or x.shape[-1] != d:
        raise InvalidInputError(
            f"{name} has shape {tuple(x.shape)} but its last dim must equal d={d} of {other}; "
            "use tensors from the same latent space"
        )
    return x


def check_nonzero(v: ArrayT, name: str = "direction", *, eps: float = 1e-12) -> ArrayT:
    """Raise if the vector(s) in ``v`` (last dim) have (near) zero norm."""
    if isinstance(v, torch.Tensor):
        norms = v.detach().float().norm(dim=-1).reshape(-1).cpu().numpy()
    else:
        norms = np.linalg.norm(np.asarray(v, dtype=np.float64), axis=-1).reshape(-1)
    smallest = float(norms.min()) if norms.size else 0.0
    if smallest <= eps:
        raise InvalidInputError(
            f"{name} has norm {smallest:.3g}, which cannot define a direction; "
            "refit it with labels that actually separate, or pass a non-zero vector"
        )
    return v


def is_int(value: object, minimum: int | None = None, *, numpy: bool = False) -> bool:
    """True for an int (numpy ints too when ``numpy``), never a bool, and >= ``minimum``."""
    kinds = (int, np.integer) if numpy else int
    if isinstance(value, bool) or not isinstance(value, kinds):
        return False
    return minimum is None or value >= minimum


def check_positive_ints(**values: object) -> None:
    """Raise unless every keyword value is an int >= 1 (bools are not ints here)."""
    for name, value in values.items():
        if not is_int(value, 1):
            raise InvalidInputError(f"{name}={value!r} must be a positive int")


def check_grid(values: Sequence[float], name: str, *, min_size: int = 1) -> list[float]:
    """A list of distinct finite floats with at least ``min_size`` entries, or InvalidInputError."""
    try:
        grid = [float(v) for v in values]
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name}={values!r} must be a list of numbers, e.g. -3,-1.5,0,1.5,3"
        ) from None
    if (
        len(grid) < min_size
        or not all(math.isfinite(v) for v in grid)
        or len(set(grid)) != len(grid)
    ):
        raise InvalidInputError(
            f"{name}={grid!r} must hold at least {min_size} distinct finite values; pass e.g. "
            "-3,-1.5,0,1.5,3 or a range -3:3:7 (start:stop:count)"
        )
    return grid
