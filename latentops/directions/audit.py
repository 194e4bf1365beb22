"""What a fit can tell about itself: similar existing directions and a biased training set.

Two failure modes caught at fit time, before anyone edits with the direction:
- a near-duplicate: the new vector points where an existing one already does (|cos| >= 0.95),
  so two names stand for one edit (the demo's scale / heart / shape directions at 0.92-1.00);
- a data bias: the training labels correlate with another labelled factor of the snapshot, so
  the fit may learn that factor too (the smile direction that also changes age).
Both are plain JSON on the direction's card (``Direction.audit``) and read back by
:func:`audit_flags` for listings and reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from latentops.directions.direction import Direction

NEAR_DUPLICATE = 0.95  # |cos| at or above this: the same edit under another name
BIAS_WARN = 0.3  # label-factor association above this: warn that the fit may learn the factor
N_SIMILAR = 3
_MAX_CLASSES = 16  # a factor with at most this many values is treated as categories


def similar_directions(
    direction: Direction, others: Mapping[str, Direction], k: int = N_SIMILAR
) -> list[dict[str, Any]]:
    """The ``k`` others most aligned with ``direction`` (largest |cos| first): {ref, cos}."""
    pairs = [(ref, direction.cosine(o)) for ref, o in others.items() if o.d == direction.d]
    pairs.sort(key=lambda p: -abs(p[1]))
    return [{"ref": ref, "cos": round(c, 4)} for ref, c in pairs[:k]]


def _eta(y: np.ndarray, groups: np.ndarray) -> float:
    """Correlation ratio: the share of y's spread explained by the groups (0 none, 1 all)."""
    total = float(((y - y.mean()) ** 2).sum())
    if total <= 0:
        return 0.0
    _, inverse = np.unique(groups, return_inverse=True)
    counts = np.bincount(inverse).astype(np.float64)
    means = np.bincount(inverse, weights=y) / counts
    between = float((counts * (means - y.mean()) ** 2).sum())
    return float(np.sqrt(between / total))


def label_bias(
    y: np.ndarray, columns: Mapping[str, np.ndarray], exclude: str | None
) -> dict[str, float]:
    """Association (0..1) of labels y (N,) with every other numeric factor column.

    Few-valued factors use the correlation ratio (how much of y the factor's classes explain),
    many-valued ones |Pearson r|. ``exclude`` is the label's own column.
    """
    yv = np.asarray(y, dtype=np.float64)  # (N,) bools count as 0/1
    out: dict[str, float] = {}
    for name, values in columns.items():
        if name == exclude or values.dtype.kind not in "iufb" or values.shape != yv.shape:
            continue
        x = values.astype(np.float64)
        if not np.isfinite(x).all() or x.std() == 0 or yv.std() == 0:
            continue
        if np.unique(x).shape[0] <= _MAX_CLASSES:
            value = _eta(yv, x)
        else:
            value = abs(float(np.corrcoef(yv, x)[0, 1]))
        out[name] = round(value, 4)
    return out


def audit_flags(audit: Mapping[str, Any]) -> list[str]:
    """Warnings an audit calls for: near-duplicates and labels biased by another factor."""
    flags = [
        f"near-duplicate of {s['ref']} (cos {s['cos']:+.2f})"
        for s in audit.get("similar", [])
        if abs(s["cos"]) >= NEAR_DUPLICATE
    ]
    flags += [
        f"labels correlate with {col} ({value:.2f})"
        for col, value in sorted(audit.get("label_bias", {}).items(), key=lambda kv: -kv[1])
        if value > BIAS_WARN
    ]
    return flags
