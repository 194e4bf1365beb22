"""Private input handling for the fitters: latents and labels as checked numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from latentops._validate import check_latents
from latentops.errors import InvalidInputError

# Rows per block when streaming a big table through float64 accumulators. A 4096 x 64
# float64 block (2 MiB) stays in cache between the cast and the product; 131072-row blocks
# measured 2-4x slower on 1M x 64 because every block went through main memory twice.
CHUNK = 4096


def as_latent_array(z: Any, name: str = "z", *, d: int | None = None) -> np.ndarray:
    """A (N, d) float32/float64 numpy view of ``z`` (numpy or torch), checked finite."""
    if isinstance(z, torch.Tensor):
        if not z.is_floating_point():
            raise InvalidInputError(
                f"{name} has dtype {z.dtype} but latents must be floating point; "
                f"convert with {name}.float()"
            )
        z = z.detach().cpu()
        z = (z.float() if z.dtype in (torch.float16, torch.bfloat16) else z).numpy()
    elif not isinstance(z, np.ndarray):
        raise InvalidInputError(
            f"{name} must be a numpy array or torch tensor of shape (N, d), "
            f"got {type(z).__name__}; wrap it with np.asarray(...)"
        )
    if not np.issubdtype(z.dtype, np.floating):
        raise InvalidInputError(
            f"{name} has dtype {z.dtype} but latents must be floating point; "
            f"convert with {name}.astype(np.float32)"
        )
    if z.dtype not in (np.float32, np.float64):
        z = z.astype(np.float32)
    check_latents(z, name, d=d, min_rows=0)
    if z.shape[1] == 0:
        raise InvalidInputError(f"{name} has shape {z.shape}; latents need d >= 1 columns")
    return z


def as_label_array(y: Any, n: int) -> np.ndarray:
    """``y`` as a 1-D numpy array of length ``n`` (the number of latent rows)."""
    if y is None:
        raise InvalidInputError(
            "this method needs labels y (one per latent row); pass y=... or pick an "
            "unsupervised method such as 'pca'"
        )
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)  # a (N, 1) column is the same labels
    if y.ndim != 1:
        raise InvalidInputError(
            f"labels y must be 1-D (one per row), got shape {y.shape}; "
            "pick one label column, or build one with parse_label(...)"
        )
    if y.shape[0] == 0:
        raise InvalidInputError("labels y are empty; the label column or filter selected no rows")
    if y.shape[0] != n:
        raise InvalidInputError(
            f"labels y have {y.shape[0]} entries but z has {n} rows; pass exactly one label "
            "per latent row (same filter, same order)"
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise InvalidInputError(
            f"labels y contain {int((~np.isfinite(y)).sum())} NaN/inf value(s); "
            "drop unlabeled rows from both z and y first"
        )
    if y.dtype == object and any(v is None for v in y):
        raise InvalidInputError(
            "labels y contain None; drop unlabeled rows from both z and y first"
        )
    return y


def as_numeric_target(y: np.ndarray, method: str) -> np.ndarray:
    """A float64 copy of numeric labels for a regression-type fit."""
    if y.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"method {method!r} needs numeric labels, got dtype {y.dtype}; use a numeric "
            "column, or a comparison such as \"col=='x'\" with a classification method"
        )
    y = y.astype(np.float64)
    if float(y.max()) == float(y.min()):
        raise InvalidInputError(
            f"labels y are constant ({y[0]:g}) so no direction changes them; "
            "pick a column that varies across rows"
        )
    return y


def py_scalar(value: Any) -> Any:
    """A JSON-friendly Python scalar for a numpy/torch scalar (or the value unchanged)."""
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    return value


def row_blocks(n: int) -> list[slice]:
    """Contiguous row slices of at most CHUNK rows covering range(n)."""
    return [slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]


def rms(z: np.ndarray) -> float:
    """Root mean square of all entries (a scale for 'numerically zero' tests)."""
    total = 0.0
    for s in row_blocks(z.shape[0]):
        block = z[s].astype(np.float64)
        total += float(np.einsum("ij,ij->", block, block))
    return float(np.sqrt(total / max(z.size, 1)))


def ensure_direction(v: np.ndarray, size: float, method: str, hint: str) -> np.ndarray:
    """Return ``v`` unless it is non-finite or its dimensionless ``size`` is numerically zero.

    ``size`` is |v| made unit-free by the caller (e.g. |mean difference| / rms(z), or
    |logistic weights| * rms(z)), so the test does not depend on how the latents are scaled.
    """
    if not np.isfinite(v).all() or not np.isfinite(size) or size <= 1e-7:
        raise InvalidInputError(
            f"method {method!r} produced a zero vector (relative size {size:.3g}); {hint}"
        )
    return v
