"""The method bake-off's table: one row per fitted method, ranked (pure, no IO).

Every candidate was fitted on the same snapshot and held-out split and scored by the same
scorecard run, so its columns compare like with like:
- probe: each vector's held-out AUC (binary label) or R² (continuous) on one split and rule;
- effect: judged change of the target between the extreme strengths (scorecard target.mean);
- off_target: the largest judged change of any other attribute at any strength (off_target.max);
- leak: the largest systematic change of another attribute (leak.<attr>, |mean change|); it is
  what the rank uses, as off_target also counts judge noise on blurred decodes;
- linearity: R² of the line through the mean response (linearity.r2);
- calibration: the strength reaching the requested change (calibration.strength), when reached.
The rank is the mean of the candidate's ranks on effect, leak, linearity and probe
(unitless, so a probability effect and a class-index leak can be weighed together), ties
broken by the larger effect. Calibration is shown, not ranked: it is often unreachable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.stats

from latentops.errors import InvalidInputError

# (column, larger is better) of the criteria the rank averages over
CRITERIA = (("effect", True), ("leak", False), ("linearity", True), ("probe", True))
# How each stored column of the table is computed (scores rows of kind "bakeoff")
ESTIMATORS = {
    "rank": "position by mean_rank among the bake-off's candidates, ties by the larger effect",
    "mean_rank": "mean over effect (desc), leak (asc), linearity (desc), probe (desc) "
    "of the candidate's rank among the bake-off's candidates",
    "probe": "held-out AUC (binary label) or R2 (continuous) of the vector measured as a "
    "manual direction on the bake-off's split",
    "effect": "target.mean at the largest minus at the smallest strength",
    "off_target": "max of off_target.max over strengths",
    "leak": "max of leak.<attribute> over attributes and strengths",
    "linearity": "linearity.r2 of the scorecard",
    "calibration": "calibration.strength of the scorecard",
}

Values = Mapping[tuple[str, float | None], float]  # (metric, strength) -> value of one direction


def scorecard_summary(values: Values) -> dict[str, float | None]:
    """effect, off_target, linearity and calibration of one direction's scorecard values."""
    mean = {s: v for (m, s), v in values.items() if m == "target.mean" and s is not None}
    if len(mean) < 2:
        raise InvalidInputError(
            "a bake-off candidate's scorecard has fewer than 2 strengths of target.mean; "
            "score it on a grid of at least 2 strengths"
        )
    lo, hi = min(mean), max(mean)
    off = [v for (m, s), v in values.items() if m == "off_target.max"]
    leak = [v for (m, s), v in values.items() if m.startswith("leak.")]
    return {
        "effect": float(mean[hi] - mean[lo]),
        "off_target": max(off) if off else None,
        "leak": max(leak) if leak else None,
        "linearity": values.get(("linearity.r2", None)),
        "calibration": values.get(("calibration.strength", None)),
    }


def rank_candidates(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (each with the CRITERIA columns, None when unmeasured) with mean_rank and rank,
    best first; an unmeasured criterion ranks last."""
    if not rows:
        raise InvalidInputError("a bake-off needs at least one candidate")
    n = len(rows)
    ranks = np.zeros((n, len(CRITERIA)))
    for j, (col, larger) in enumerate(CRITERIA):
        worst = -np.inf if larger else np.inf
        x = np.array([worst if r.get(col) is None else float(r[col]) for r in rows])
        ranks[:, j] = scipy.stats.rankdata(-x if larger else x, method="average")
    mean_rank = ranks.mean(axis=1)  # (n,)
    effect = [-(r.get("effect") or 0.0) for r in rows]
    order = sorted(range(n), key=lambda i: (mean_rank[i], effect[i]))
    return [
        {**rows[i], "mean_rank": float(mean_rank[i]), "rank": k + 1} for k, i in enumerate(order)
    ]
