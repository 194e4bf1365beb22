"""Names for unsupervised directions from a judged traversal (pure, no IO).

A PCA / SeFa component or a latent coordinate has no label. Traversing it over a strength
grid and reading every judge head (expected class index per attribute, the scorecard's
``Part.pred``) says what it changes: per attribute the slope per strength unit, the Spearman
correlation of the mean response with strength, the share of the response's variance the
strength explains, and the change between the extreme strengths as a share of the
attribute's range. Attributes that move monotonically and visibly are the suggested labels,
the largest mover first; attributes that barely change are listed as unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from latentops.errors import InvalidInputError
from latentops.evaluation.edit_metrics import dose_response

MOVES_SPEARMAN = 0.9  # |Spearman| of the mean response with strength: a monotone move
MOVES_RANGE = 0.1  # change between the extreme strengths, as a share of the attribute's range
STILL_RANGE = 0.05  # below this share of its range an attribute counts as unchanged
RULE = {"moves_spearman": MOVES_SPEARMAN, "moves_range": MOVES_RANGE, "still_range": STILL_RANGE}


def _variance_share(grid: np.ndarray, pred: np.ndarray) -> float:
    """Share of the responses' (S, N) variance explained by the strength (between-strength)."""
    total = float(pred.var())
    return float(pred.mean(axis=1).var() / total) if total > 0 else 0.0


def traversal_names(
    grid: np.ndarray, pred: Mapping[str, np.ndarray], sizes: Mapping[str, int]
) -> dict[str, Any]:
    """Suggested labels of a direction from judged traversals: grid (S,), pred[attr] (S, N)
    expected class index, sizes[attr] the attribute's number of classes."""
    grid = np.asarray(grid, np.float64)
    if grid.ndim != 1 or grid.shape[0] < 3 or np.any(np.diff(grid) <= 0):
        raise InvalidInputError(
            f"a naming traversal needs an increasing grid of >= 3 strengths, got {grid.tolist()}"
        )
    attributes: dict[str, dict[str, float]] = {}
    for attr, p in sorted(pred.items()):
        p = np.asarray(p, np.float64)  # (S, N)
        dose = dose_response(grid, p)
        mean = p.mean(axis=1)  # (S,)
        span = max(int(sizes.get(attr, 2)) - 1, 1)  # class indices run 0..K-1
        attributes[attr] = {
            "slope": round(dose["slope"], 4),
            "spearman": round(dose["spearman"], 4),
            "variance_share": round(_variance_share(grid, p), 4),
            "change": round(float(mean[-1] - mean[0]), 4),
            "range_share": round(abs(float(mean[-1] - mean[0])) / span, 4),
        }
    moves = sorted(
        (
            a
            for a, m in attributes.items()
            if abs(m["spearman"]) >= MOVES_SPEARMAN and m["range_share"] >= MOVES_RANGE
        ),
        key=lambda a: -attributes[a]["range_share"],
    )
    unchanged = [a for a, m in attributes.items() if m["range_share"] < STILL_RANGE]
    return {
        "label": moves[0] if moves else None,
        "moves": moves,
        "unchanged": unchanged,
        "attributes": attributes,
        "evidence": evidence(moves, unchanged, attributes),
        "grid": grid.tolist(),
        "rule": dict(RULE),
    }


def evidence(moves: list[str], unchanged: list[str], attributes: Mapping[str, Any]) -> str:
    """One line: "mostly pos_x (slope 2.1/unit, Spearman 0.98); also ...; shape unchanged"."""
    parts = []
    for k, attr in enumerate(moves):
        m = attributes[attr]
        lead = "mostly" if k == 0 else "also"
        parts.append(
            f"{lead} {attr} (slope {m['slope']:+.3g}/unit, Spearman {m['spearman']:+.2f}, "
            f"{m['range_share']:.0%} of its range)"
        )
    if not moves:
        parts.append("no judged attribute moves monotonically")
    if unchanged:
        parts.append(f"{', '.join(unchanged)} unchanged")
    return "; ".join(parts)
