"""Private input checks and dtype helpers shared by the latent ops.

Every check raises InvalidInputError naming the argument, its shape or value, and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from latentops._validate import check_finite, check_last_dim, is_int
from latentops.errors import InvalidInputError

# Scalars or 1-D collections of them: a strength, an interpolation weight, a grid of values.
ScalarOrVector = float | int | Sequence[float] | np.ndarray | torch.Tensor

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_ZERO_NORM = 1e-12  # same threshold as latentops._validate.check_nonzero


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Dtype to do the arithmetic in: float32 for half types (no overflow / NaN), else ``dtype``."""
    return torch.float32 if dtype in _LOW_PRECISION else dtype


def as_torch(x: torch.Tensor | np.ndarray, name: str, what: str) -> torch.Tensor:
    """Return ``x`` as a tensor (NumPy arrays are wrapped, not copied); anything else raises."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise InvalidInputError(
            f"{name} must be {what}, got {type(x).__name__}; wrap it with torch.as_tensor(...)"
        )
    return x


def as_latents(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """Return ``x`` as a non-empty, finite, floating tensor of shape (..., d)."""
    x = as_torch(x, name, "a torch.Tensor of shape (..., d)")
    if not x.is_floating_point():
        raise InvalidInputError(
            f"{name} has dtype {x.dtype} but latents must be floating point; "
            f"convert with {name}.float()"
        )
    if x.ndim == 0:
        raise InvalidInputError(
            f"{name} is a 0-d scalar but latents need a last dim d; pass shape (..., d)"
        )
    if x.numel() == 0:
        raise InvalidInputError(
            f"{name} is empty (shape {tuple(x.shape)}); pass at least one latent of dim d >= 1"
        )
    return check_finite(x, name)


def same_device(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Raise unless ``a`` and ``b`` live on the same device."""
    if a.device != b.device:
        raise InvalidInputError(
            f"{name_a} is on {a.device} but {name_b} is on {b.device}; "
            f"move both to one device, e.g. {name_b}.to({name_a}.device)"
        )


def pair_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> torch.Size:
    """Check that ``a`` and ``b`` share d and device and broadcast; return the broadcast shape."""
    check_last_dim(b, a.shape[-1], name_b, name_a)
    same_device(a, b, name_a, name_b)
    try:
        return torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise InvalidInputError(
            f"{name_a} has shape {tuple(a.shape)} and {name_b} has shape {tuple(b.shape)}, "
            "which do not broadcast; give them the same leading dims or pass one (d,) vector"
        ) from None


def as_real(x: ScalarOrVector, name: str, expected: str) -> torch.Tensor:
    """Return ``x`` as a finite, non-empty real tensor; Python numbers become float64."""
    if isinstance(x, bool) or (isinstance(x, torch.Tensor) and x.dtype == torch.bool):
        raise InvalidInputError(f"{name} must be {expected}, got a bool {x!r}")
    try:
        # float64 first, so a float64 computation sees Python numbers unrounded
        exact = isinstance(x, torch.Tensor | np.ndarray)
        xt = torch.as_tensor(x) if exact else torch.as_tensor(x, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"{name} must be {expected}, got {x!r} ({exc})") from None
    if xt.is_complex() or xt.dtype == torch.bool:
        raise InvalidInputError(f"{name} must be {expected} (real numbers), got dtype {xt.dtype}")
    if xt.numel() == 0:
        raise InvalidInputError(f"{name} is empty (shape {tuple(xt.shape)}); pass {expected}")
    return check_finite(xt, name)


def as_grid(
    t: ScalarOrVector, name: str, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, bool]:
    """Return ``t`` as a finite 1-D tensor (T,) on ``device`` and whether it was a scalar."""
    tt = as_real(t, name, "a float or a 1-D sequence/tensor of floats")
    if tt.ndim > 1:
        raise InvalidInputError(
            f"{name} has shape {tuple(tt.shape)} but must be a scalar or 1-D (T,); "
            f"flatten it with {name}.reshape(-1)"
        )
    return tt.to(device=device, dtype=dtype).reshape(-1), tt.ndim == 0


def lead(grid: torch.Tensor, ndim: int) -> torch.Tensor:
    """View a (T,) grid as (T, 1, ..., 1) with ``ndim`` trailing ones, to broadcast over latents."""
    return grid.reshape(grid.shape[0], *([1] * ndim))


def unit(v: torch.Tensor, name: str, dtype: torch.dtype) -> torch.Tensor:
    """Normalize ``v`` along its last dim in ``dtype``; a (near) zero-norm vector raises."""
    v = v.to(dtype)
    norms = torch.linalg.vector_norm(v, dim=-1, keepdim=True)  # (..., 1)
    zero = norms.squeeze(-1) <= _ZERO_NORM
    if bool(zero.any()):
        where = tuple(zero.nonzero()[0].tolist())
        raise InvalidInputError(
            f"{name} (shape {tuple(v.shape)}) has norm {float(norms.min()):.3g} at index {where}, "
            "which cannot define a direction; pass a non-zero vector (a direction fitted on "
            "labels that do not separate comes out as zero: refit it)"
        )
    return v / norms  # (..., d)


def check_index(i: int, size: int, name: str, what: str) -> int:
    """Return ``i`` normalised to [0, size) or raise naming the valid range."""
    if not is_int(i, numpy=True):
        raise InvalidInputError(f"{name} must be an int, got {type(i).__name__} {i!r}")
    if not -size <= i < size:
        raise InvalidInputError(
            f"{name}={i} is out of range for {what} of size {size}; use 0..{size - 1} "
            f"(or -{size}..-1 from the end)"
        )
    return int(i) % size
