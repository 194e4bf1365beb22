"""Private nonlinear probe: how well *all* of z predicts a label, linear or not (k-NN).

A linear probe (ridge R², a classifier's accuracy) undercounts codes that are curved, e.g. an
attribute laid on an arc in two dimensions. A k-nearest-neighbour probe fitted on the train
rows and scored on the held-out rows sees those too; a large gap between the two means the
attribute is encoded, but not linearly, so a straight edit direction will serve it poorly.
"""

from __future__ import annotations

import math

import numpy as np

from latentops.directions._metrics import r2_score
from latentops.directions._pattern import INACTIVE_WARN

K_NEIGHBOURS = 10
# k-NN cost grows with train x held-out rows; these caps keep a 1M-row fit to seconds while the
# score's sampling error stays ~0.01
MAX_TRAIN, MAX_HOLD = 20_000, 5_000
NONLINEAR_GAP = 0.15  # knn - linear score above this: "encoded, but not linearly"
NONLINEAR_FLAG = "encoded, but not linearly"
NOT_ENCODED_FLAG = "not encoded (probes at chance)"
CHANCE_MARGIN = 0.02  # accuracy within this of the majority share, or R² under 0.05: chance


def _sample(rows: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(rows, cap, replace=False)) if rows.shape[0] > cap else rows


def knn_score(
    z: np.ndarray, y: np.ndarray, train: np.ndarray, *, classify: bool, seed: int = 0
) -> float:
    """Held-out 10-NN R² (or accuracy when ``classify``) of y from z; train is a (N,) mask."""
    rng = np.random.default_rng(seed)
    fit_rows = _sample(np.flatnonzero(train), MAX_TRAIN, rng)
    hold_rows = _sample(np.flatnonzero(~train), MAX_HOLD, rng)
    k = min(K_NEIGHBOURS, fit_rows.shape[0])
    if k < 1 or hold_rows.shape[0] == 0:
        return math.nan
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor  # seconds: fits only

    zf, zh = z[fit_rows].astype(np.float64), z[hold_rows].astype(np.float64)
    if classify:
        model = KNeighborsClassifier(k).fit(zf, y[fit_rows])
        return float(np.mean(model.predict(zh) == y[hold_rows]))
    model = KNeighborsRegressor(k).fit(zf, y[fit_rows].astype(np.float64))
    return r2_score(y[hold_rows].astype(np.float64), model.predict(zh))


def probe_scores(metrics: dict[str, float | int]) -> tuple[float | None, float | None]:
    """(linear, k-NN) held-out probe scores of a direction's metrics: R² or accuracy."""
    pick = [
        next((float(metrics[k]) for k in (f"{kind}_r2", f"{kind}_accuracy") if k in metrics), None)
        for kind in ("linear", "knn")
    ]
    return pick[0], pick[1]


def probe_flags(metrics: dict[str, float | int]) -> list[str]:
    """Warnings a direction's metrics call for: a nonlinear code, weight on inactive dims."""
    if _at_chance(metrics):
        return [NOT_ENCODED_FLAG]
    flags = []
    for linear, knn in (("linear_r2", "knn_r2"), ("linear_accuracy", "knn_accuracy")):
        if linear in metrics and knn in metrics and metrics[knn] - metrics[linear] > NONLINEAR_GAP:
            flags.append(NONLINEAR_FLAG)
    share = metrics.get("inactive_share")
    if share is not None and share > INACTIVE_WARN:
        flags.append(f"{share:.0%} of its weight on inactive dimensions")
    return flags


def _at_chance(metrics: dict[str, float | int]) -> bool:
    """Neither probe beats chance: R² ~ 0, or accuracy ~ the majority class's share."""
    if "knn_r2" in metrics and "linear_r2" in metrics:
        return max(metrics["knn_r2"], metrics["linear_r2"]) < 0.05
    n_pos, n_neg = metrics.get("n_pos"), metrics.get("n_neg")
    if "knn_accuracy" in metrics and "linear_accuracy" in metrics and n_pos and n_neg:
        majority = max(n_pos, n_neg) / (n_pos + n_neg)
        return max(metrics["knn_accuracy"], metrics["linear_accuracy"]) < majority + CHANCE_MARGIN
    return False
