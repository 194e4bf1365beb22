"""Private turning of raw labels into a binary target (which rows, which are positive)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from latentops.directions._data import py_scalar
from latentops.errors import InvalidInputError


@dataclass(frozen=True)
class BinaryTarget:
    """Rows of z taking part (None = all) and their positive/negative labels."""

    rows: np.ndarray | None  # (M,) row indices into z, or None for every row
    t: np.ndarray  # (M,) bool, True = positive
    spec: dict[str, Any]  # JSON-able record of how t was derived from y


def _preview(values: np.ndarray, limit: int = 10) -> str:
    shown = [py_scalar(v) for v in values[:limit]]
    return f"{shown}{' ...' if values.shape[0] > limit else ''}"


def _check_percent(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 50:
        raise InvalidInputError(
            f"{name}={value!r} must be a percentage in (0, 50]; InterFaceGAN uses 2 "
            "(the top and bottom 2% of the score become the two classes)"
        )
    return float(value)


def _extremes(y: np.ndarray, top: float, bottom: float) -> BinaryTarget:
    """InterFaceGAN selection: top ``top``% of a score are positive, bottom ``bottom``% negative."""
    if y.dtype.kind not in "iuf":
        raise InvalidInputError(
            f"top_percent/bottom_percent select by a numeric score but y has dtype {y.dtype}; "
            "pass a continuous score column"
        )
    n = y.shape[0]
    n_top, n_bot = int(round(n * top / 100)), int(round(n * bottom / 100))
    order = np.argsort(y, kind="stable")  # ties broken by row order: deterministic
    neg, pos = order[:n_bot], order[n - n_top :]
    if n_top < 2 or n_bot < 2 or float(y[pos].min()) <= float(y[neg].max()):
        raise InvalidInputError(
            f"top {top:g}% / bottom {bottom:g}% of {n} scores give {n_top} positive and "
            f"{n_bot} negative rows that do not separate cleanly (need >= 2 each and "
            "top scores above bottom scores); use larger percentages or more rows"
        )
    rows = np.sort(np.concatenate([neg, pos]))
    t = np.zeros(n, dtype=bool)
    t[pos] = True
    spec = {
        "rule": "extremes",
        "top_percent": top,
        "bottom_percent": bottom,
        "positive_min": py_scalar(y[pos].min()),
        "negative_max": py_scalar(y[neg].max()),
    }
    return BinaryTarget(rows=rows, t=t[rows], spec=spec)


def binary_target(
    y: np.ndarray,
    *,
    positive: Any = None,
    top_percent: float | None = None,
    bottom_percent: float | None = None,
) -> BinaryTarget:
    """Binary labels from ``y``: bool, two values (larger positive), one-vs-rest or extremes."""
    if top_percent is not None or bottom_percent is not None:
        if positive is not None:
            raise InvalidInputError(
                "pass either positive=... (one class vs rest) or top_percent/bottom_percent "
                "(extremes of a score), not both"
            )
        top = _check_percent(
            "top_percent", top_percent if top_percent is not None else bottom_percent
        )
        bottom = _check_percent(
            "bottom_percent", bottom_percent if bottom_percent is not None else top_percent
        )
        return _extremes(y, top, bottom)
    if positive is not None:
        t = np.asarray(y == positive, dtype=bool)
        if t.shape != y.shape:  # numpy gives a scalar for a type-mismatched comparison
            t = np.zeros(y.shape, dtype=bool)
        if not np.any(t):
            raise InvalidInputError(
                f"positive={positive!r} never occurs in y; values present: {_preview(np.unique(y))}"
            )
        spec = {"rule": "one_vs_rest", "positive": py_scalar(positive)}
    elif y.dtype == bool:
        t, spec = y, {"rule": "bool", "positive": True}
    else:
        values = np.unique(y)
        if values.shape[0] > 2:
            raise InvalidInputError(
                f"labels y have {values.shape[0]} distinct values {_preview(values)} but this "
                "method needs two classes; pass positive=<value> (one vs rest), top_percent=... "
                "(extremes of a score), or use method='ridge' for a continuous attribute"
            )
        t = y == values[-1]
        spec = {"rule": "two_values", "positive": py_scalar(values[-1])}
    n_pos = int(t.sum())
    if n_pos == 0 or n_pos == t.shape[0]:
        raise InvalidInputError(
            f"labels y hold a single class ({'all positive' if n_pos else 'all negative'}, "
            f"{t.shape[0]} rows); a direction needs examples of both sides"
        )
    return BinaryTarget(rows=None, t=np.asarray(t, dtype=bool), spec=spec)


def label_kind(y: np.ndarray) -> str:
    """'binary' (bool / two values), 'numeric' (more numeric values) or 'categorical'."""
    if y.dtype == bool:
        return "binary"
    n_values = np.unique(y).shape[0]
    if n_values < 2:
        raise InvalidInputError(
            f"labels y hold a single value ({_preview(np.unique(y))}) over {y.shape[0]} rows; "
            "a direction needs labels that vary"
        )
    if n_values == 2:
        return "binary"
    return "numeric" if y.dtype.kind in "iuf" else "categorical"
