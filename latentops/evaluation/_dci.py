"""Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018, "A Framework
for the Quantitative Evaluation of Disentangled Representations").

One classifier per factor predicts it from all latent dims; its impurity-based feature
importances form the importance matrix R (d, K). Disentanglement weights each dim's
1 - H_K(R[i, :]) by the dim's share of total importance; completeness weights each factor's
1 - H_d(R[:, k]); informativeness is mean classifier accuracy on train / test rows. The
formulas (1e-11 smoothing, entropy bases, all-zero fallback) follow disentanglement_lib's
``dci.py`` (num_train=10000, num_test=5000).

``importance="gbt"`` is the reference: ``GradientBoostingClassifier()`` per factor. It is
slow (about 40 s at 1k rows and 7 min at 10k on 2 cores, dSprites-shaped factors), so the
default is ``"random_forest"``, the estimator of the DCI paper itself: bagged CART trees
with the same impurity (MDI) importances, every dim considered at each split
(``max_features=None``, as GBT does, so a dim that explains a factor wins its splits) and
at least 10 rows per leaf so that fully grown trees do not carve noise dims, which would
spread importance onto uninformative dims and lower D and C. Each tree sees half the rows
(``max_samples=0.5``). On synthetic dSprites-shaped codes its D/C ranked codes like GBT's
and differed by 0.01-0.13 (more at small num_train) at 1/15-1/70 of the time: the two are
not interchangeable, so the estimator is recorded with every number.
"""

from __future__ import annotations

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from latentops.errors import InvalidInputError
from latentops.evaluation._checks import (
    ArrayLike,
    check_seed,
    check_table,
    pick,
    require_varying,
    split_rows,
)
from latentops.evaluation._protocol import Result

REFERENCE_NUM_TRAIN, REFERENCE_NUM_TEST = 10_000, 5_000  # dci in unsupervised_study_v1
FAST_NUM_TRAIN, FAST_NUM_TEST = 1_000, 500  # disent's fast setting
_RF_PARAMS = {"n_estimators": 30, "max_features": None, "min_samples_leaf": 10, "max_samples": 0.5}
IMPORTANCES = {
    "gbt": "GradientBoostingClassifier()",
    "random_forest": "RandomForestClassifier("
    + ", ".join(f"{k}={v}" for k, v in _RF_PARAMS.items())
    + ")",
}


def _classifier(importance: str, seed: int) -> GradientBoostingClassifier | RandomForestClassifier:
    if importance == "gbt":
        return GradientBoostingClassifier(random_state=seed)
    return RandomForestClassifier(random_state=seed, **_RF_PARAMS)


def importance_matrix(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    *,
    importance: str = "random_forest",
    seed: int = 0,
) -> tuple[np.ndarray, float, float]:
    """Importances R (d, K) and mean train / test accuracy of one classifier per factor."""
    d, k = z_train.shape[1], y_train.shape[1]
    r = np.zeros((d, k))
    train_acc, test_acc = [], []
    for j in range(k):
        model = _classifier(importance, seed).fit(z_train, y_train[:, j])
        r[:, j] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(z_train) == y_train[:, j]))
        test_acc.append(np.mean(model.predict(z_test) == y_test[:, j]))
    return r, float(np.mean(train_acc)), float(np.mean(test_acc))


def disentanglement(r: np.ndarray) -> float:
    """Importance-weighted mean over dims of 1 - entropy_K(row of R (d, K))."""
    per_code = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=r.shape[1])  # (d,)
    if r.sum() == 0.0:
        r = np.ones_like(r)
    return float(np.sum(per_code * r.sum(axis=1) / r.sum()))


def completeness(r: np.ndarray) -> float:
    """Importance-weighted mean over factors of 1 - entropy_d(column of R (d, K))."""
    per_factor = 1.0 - scipy.stats.entropy(r + 1e-11, base=r.shape[0])  # (K,)
    if r.sum() == 0.0:
        r = np.ones_like(r)
    return float(np.sum(per_factor * r.sum(axis=0) / r.sum()))


def dci(
    latents: ArrayLike,
    factors: ArrayLike,
    *,
    importance: str = "random_forest",
    num_train: int | None = None,
    num_test: int | None = None,
    fast: bool = False,
    seed: int = 0,
) -> Result:
    """DCI disentanglement / completeness / informativeness of latents (N, d) vs factors (N, K)."""
    if importance not in IMPORTANCES:
        raise InvalidInputError(
            f"importance={importance!r} is not one of {sorted(IMPORTANCES)}; use 'gbt' for the "
            "disentanglement_lib reference or 'random_forest' (fast default)"
        )
    z, y, names = check_table(latents, factors)
    if z.shape[1] < 2 or y.shape[1] < 2:
        raise InvalidInputError(
            f"DCI needs d >= 2 latent dims and K >= 2 factors (entropies over a single one are "
            f"undefined), got d={z.shape[1]}, K={y.shape[1]}"
        )
    seed = check_seed(seed)
    num_train = pick(num_train, fast, REFERENCE_NUM_TRAIN, FAST_NUM_TRAIN, "num_train")
    num_test = pick(num_test, fast, REFERENCE_NUM_TEST, FAST_NUM_TEST, "num_test")
    train, test = split_rows(z.shape[0], num_train, num_test, np.random.default_rng(seed))
    require_varying(y[train], names, "the training split missed its other values; add rows")
    r, acc_train, acc_test = importance_matrix(
        z[train], y[train], z[test], y[test], importance=importance, seed=seed
    )
    return {
        "dci.disentanglement": disentanglement(r),
        "dci.completeness": completeness(r),
        "dci.informativeness_train": acc_train,
        "dci.informativeness_test": acc_test,
        "dci.importance": importance,
        "dci.estimator": IMPORTANCES[importance],
        "dci.informativeness": "accuracy",
        "dci.num_train": int(train.shape[0]),
        "dci.num_test": int(test.shape[0]),
        "dci.n_rows": int(z.shape[0]),
        "dci.seed": seed,
        "dci.fast": bool(fast),
    }
