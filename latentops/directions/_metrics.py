"""Private held-out diagnostics of a direction, computed from its 1-D projections p = z·v.

Every fitted direction is judged the same way, whatever its method, so a bake-off compares
like with like: a 1-D rule is learned on the training projections and scored on held-out rows.
"""

from __future__ import annotations

import math

import numpy as np


def best_threshold(p: np.ndarray, t: np.ndarray) -> float:
    """The cut c maximising training accuracy of the rule ``p >= c -> positive``."""
    order = np.argsort(p)  # the order among ties is irrelevant: no cut falls between them
    ps, ts = p[order], t[order]
    n, n_pos = ts.shape[0], int(ts.sum())
    # split i puts ps[:i] on the negative side: correct = negatives below + positives above
    neg_below = np.concatenate([[0], np.cumsum(~ts)])
    pos_above = n_pos - np.concatenate([[0], np.cumsum(ts)])
    correct = neg_below + pos_above
    can_split = np.ones(n + 1, dtype=bool)
    can_split[1:-1] = ps[1:] != ps[:-1]  # never cut between two equal projections
    i = int(np.argmax(np.where(can_split, correct, -1)))
    if i == 0:
        return float(ps[0])
    if i == n:
        return float(np.nextafter(ps[-1], np.inf))
    return float((ps[i - 1] + ps[i]) / 2)


def cohens_d(p: np.ndarray, t: np.ndarray) -> float:
    """Standardised gap between positive and negative projections (pooled SD); NaN if undefined."""
    a, b = p[t], p[~t]
    if a.shape[0] + b.shape[0] < 3 or a.shape[0] == 0 or b.shape[0] == 0:
        return math.nan
    ssq = (a.var(ddof=0) * a.shape[0]) + (b.var(ddof=0) * b.shape[0])
    sd = math.sqrt(ssq / (a.shape[0] + b.shape[0] - 2))
    return float((a.mean() - b.mean()) / sd) if sd > 0 else math.nan


def classification_metrics(
    p_train: np.ndarray, t_train: np.ndarray, p_hold: np.ndarray, t_hold: np.ndarray
) -> dict[str, float | int]:
    """Held-out accuracy (cut learned on train), AUC and Cohen's d of the projection."""
    from sklearn.metrics import roc_auc_score  # seconds to import: only fits pay for it

    p_train, p_hold = p_train.astype(np.float64), p_hold.astype(np.float64)
    cut = best_threshold(p_train, t_train)
    return {
        "accuracy": float(np.mean((p_hold >= cut) == t_hold)),
        "auc": float(roc_auc_score(t_hold, p_hold)),
        "effect_size": cohens_d(p_hold, t_hold),
        "threshold": cut,
        "n_holdout": int(t_hold.shape[0]),
        "n_holdout_pos": int(t_hold.sum()),
    }


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination (NaN when y is constant)."""
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot if ss_tot > 0 else math.nan


def regression_metrics(
    p_train: np.ndarray, y_train: np.ndarray, p_hold: np.ndarray, y_hold: np.ndarray
) -> dict[str, float | int]:
    """Held-out R² of a 1-D linear fit of y on the projection, its slope, and Pearson r."""
    p_train, p_hold = p_train.astype(np.float64), p_hold.astype(np.float64)
    var = float(p_train.var())
    cov = float(np.mean((p_train - p_train.mean()) * (y_train - y_train.mean())))
    slope = cov / var if var > 0 else 0.0  # a constant projection predicts the mean
    intercept = float(y_train.mean() - slope * p_train.mean())
    if p_hold.shape[0] > 1 and p_hold.std() > 0 and y_hold.std() > 0:
        pearson = float(np.corrcoef(p_hold, y_hold)[0, 1])
    else:
        pearson = math.nan
    return {
        "r2": r2_score(y_hold, slope * p_hold + intercept),
        "pearson": pearson,
        "slope": slope if var > 0 else math.nan,
        "n_holdout": int(y_hold.shape[0]),
    }


def finite_only(metrics: dict[str, float | int]) -> dict[str, float | int]:
    """Drop undefined (NaN/inf) metrics: absent means 'not measurable here', never a fake 0."""
    return {k: v for k, v in metrics.items() if not (isinstance(v, float) and not math.isfinite(v))}
