"""Private input checks and row sampling shared by the evaluation metrics.

Every check raises InvalidInputError naming the argument, its shape or value, and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from latentops._validate import check_finite, check_latents, is_int
from latentops.errors import InvalidInputError

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]


def as_array(x: ArrayLike, name: str) -> np.ndarray:
    """Return ``x`` (NumPy array, torch tensor on any device, or a list) as a NumPy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        out = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be an array of numbers, got {x!r} ({exc})") from None
    if out.dtype == object or out.dtype.kind in "USc":
        raise InvalidInputError(
            f"{name} has dtype {out.dtype} but must hold real numbers; convert it with "
            "np.asarray(..., dtype=float)"
        )
    return out


def as_float(x: ArrayLike, name: str) -> np.ndarray:
    """``x`` as a finite float64 array."""
    out = as_array(x, name)
    if out.dtype == bool:
        raise InvalidInputError(f"{name} is boolean but must hold real numbers; pass floats")
    return check_finite(out.astype(np.float64, copy=False), name)


def check_int(value: int, name: str, *, minimum: int) -> int:
    """Return ``value`` as an int >= ``minimum`` or raise naming it."""
    if not is_int(value, minimum, numpy=True):
        raise InvalidInputError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def check_seed(seed: int) -> int:
    """Seeds are plain ints so that they can be recorded with every score."""
    if not is_int(seed, 0, numpy=True):
        raise InvalidInputError(
            f"seed={seed!r} must be a non-negative int (it is stored with the score, so a "
            "Generator object cannot be used); pass e.g. seed=0"
        )
    return int(seed)


def factor_names(names: Sequence[str] | None, k: int) -> list[str]:
    """Names for the K factor columns: the given ones (checked) or f0..f{K-1}."""
    if names is None:
        return [f"f{j}" for j in range(k)]
    names = [str(n) for n in names]
    if len(names) != k or len(set(names)) != k:
        raise InvalidInputError(
            f"factor_names={names!r} must hold {k} distinct names, one per factor column"
        )
    return names


def check_table(
    latents: ArrayLike,
    factors: ArrayLike,
    *,
    discrete: bool = True,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate a (latents (N, d), factors (N, K)) table; return float64 z, factors and names."""
    z = as_array(latents, "latents")
    if z.ndim != 2:
        raise InvalidInputError(
            f"latents must be a 2-D (N, d) array, got shape {tuple(z.shape)}; "
            "reshape to (N, d) (one row per item)"
        )
    z = check_latents(as_float(z, "latents"), "latents", min_rows=2)
    y = as_array(factors, "factors")
    if y.ndim == 1:
        y = y[:, None]  # a single factor column
    if y.ndim != 2 or y.shape[1] == 0:
        raise InvalidInputError(
            f"factors must be a 2-D (N, K) array with K >= 1 factor columns, got shape "
            f"{tuple(y.shape)}"
        )
    if y.shape[0] != z.shape[0]:
        raise InvalidInputError(
            f"latents has N={z.shape[0]} rows but factors has N={y.shape[0]}; pass the factor "
            "columns of the same rows (same table, same order)"
        )
    if y.dtype == bool:
        y = y.astype(np.int64)
    y = check_finite(y, "factors")
    if discrete:
        if y.dtype.kind == "f":
            if not np.array_equal(y, np.round(y)):
                raise InvalidInputError(
                    "factors hold non-integer values but this metric needs discrete factor "
                    "labels; bin continuous factors first (e.g. np.digitize) or, for SAP, pass "
                    "continuous_factors=True"
                )
        elif y.dtype.kind not in "iu":
            raise InvalidInputError(f"factors has dtype {y.dtype}; pass integer factor labels")
        y = y.astype(np.int64)
    else:
        y = y.astype(np.float64)
    labels = factor_names(names, y.shape[1])
    require_varying(y, labels, "drop that column")
    return z, y, labels


def require_varying(y: np.ndarray, names: Sequence[str], fix: str) -> None:
    """Raise if a factor column of ``y`` (N, K) holds a single value (zero entropy)."""
    for j in range(y.shape[1]):
        if np.all(y[:, j] == y[0, j]):
            raise InvalidInputError(
                f"factor column {j} ({names[j]!r}) has the single value {y[0, j].item()!r} in all "
                f"{y.shape[0]} rows; a constant factor has no entropy, so the metric is "
                f"undefined for it: {fix}"
            )


def sample_rows(n: int, num: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``num`` distinct row indices out of ``n`` (all rows, in order, if n <= num)."""
    if n <= num:
        return np.arange(n)
    return np.sort(rng.choice(n, size=num, replace=False))


def split_rows(
    n: int, num_train: int, num_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random train / test rows; scaled down in the same ratio when n is too small."""
    if num_train + num_test > n:
        # a table smaller than the reference sample: keep the train:test ratio (2:1 by default)
        num_train = int(round(n * num_train / (num_train + num_test)))
        num_train = min(max(num_train, 1), n - 1)
        num_test = n - num_train
    perm = rng.permutation(n)
    return np.sort(perm[:num_train]), np.sort(perm[num_train : num_train + num_test])


def pick(value: int | None, fast: bool, reference: int, quick: int, name: str) -> int:
    """An explicit setting wins; otherwise the fast or the reference preset."""
    if value is None:
        return quick if fast else reference
    return check_int(value, name, minimum=1)
