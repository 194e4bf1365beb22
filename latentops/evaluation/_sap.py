"""Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations", Sec. 3).

Score matrix S (d, K): how well latent dim i alone predicts factor k. For discrete factors
(the reference setting, ``continuous_factors=False``) S[i, k] is the test accuracy of a
one-feature ``LinearSVC(C=0.01, class_weight="balanced")``; for continuous factors it is
the squared Pearson correlation on the training rows (0 when the latent dim is constant).
SAP is the mean over factors of the gap between the best and second-best dim, exactly as
disentanglement_lib's ``compute_sap`` (num_train=10000, num_test=5000).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.svm import LinearSVC

from latentops.errors import InvalidInputError
from latentops.evaluation._checks import (
    ArrayLike,
    check_seed,
    check_table,
    pick,
    require_varying,
    sample_rows,
    split_rows,
)
from latentops.evaluation._protocol import Result

REFERENCE_NUM_TRAIN, REFERENCE_NUM_TEST = 10_000, 5_000  # sap_score.gin
FAST_NUM_TRAIN, FAST_NUM_TEST = 2_000, 1_000  # disent's fast setting
_SVC_C = 0.01


def sap_score_matrix(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    *,
    continuous_factors: bool,
    seed: int = 0,
) -> np.ndarray:
    """Per (latent dim, factor) predictability (d, K) from train (N, d)/(N, K) and test rows."""
    d, k = z_train.shape[1], y_train.shape[1]
    s = np.zeros((d, k))
    for i in range(d):
        for j in range(k):
            if continuous_factors:
                cov = np.cov(z_train[:, i], y_train[:, j], ddof=1)  # (2, 2)
                if cov[0, 0] > 1e-12:  # the reference's guard against a collapsed dim
                    s[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
            else:
                clf = LinearSVC(C=_SVC_C, class_weight="balanced", random_state=seed)
                clf.fit(z_train[:, i : i + 1], y_train[:, j])
                s[i, j] = np.mean(clf.predict(z_test[:, i : i + 1]) == y_test[:, j])
    return s


def top_two_gap(s: np.ndarray) -> np.ndarray:
    """Per column of ``s`` (d, K): largest minus second-largest entry -> (K,)."""
    top = np.sort(s, axis=0)  # (d, K), ascending
    return top[-1] - top[-2]


def sap(
    latents: ArrayLike,
    factors: ArrayLike,
    *,
    continuous_factors: bool = False,
    num_train: int | None = None,
    num_test: int | None = None,
    fast: bool = False,
    seed: int = 0,
    factor_names: Sequence[str] | None = None,
) -> Result:
    """SAP score of latents (N, d) w.r.t. factors (N, K), with its protocol."""
    z, y, names = check_table(latents, factors, discrete=not continuous_factors, names=factor_names)
    if z.shape[1] < 2:
        raise InvalidInputError(
            f"latents have d={z.shape[1]} dim(s) but SAP compares the best two dims per factor; "
            "it needs d >= 2"
        )
    seed = check_seed(seed)
    num_train = pick(num_train, fast, REFERENCE_NUM_TRAIN, FAST_NUM_TRAIN, "num_train")
    num_test = pick(num_test, fast, REFERENCE_NUM_TEST, FAST_NUM_TEST, "num_test")
    rng = np.random.default_rng(seed)
    if continuous_factors:  # the correlation needs no held-out rows (as in the reference)
        train, test = sample_rows(z.shape[0], num_train, rng), np.arange(0)
    else:
        train, test = split_rows(z.shape[0], num_train, num_test, rng)
    require_varying(y[train], names, "the training split missed its other values; add rows")
    s = sap_score_matrix(
        z[train], y[train], z[test], y[test], continuous_factors=continuous_factors, seed=seed
    )
    per_factor = top_two_gap(s)  # (K,)
    out: Result = {"sap": float(per_factor.mean())}
    out.update({f"sap.factor.{name}": float(v) for name, v in zip(names, per_factor, strict=True)})
    estimator = "squared-pearson" if continuous_factors else f"linear-svc-balanced-C{_SVC_C}"
    out.update(
        {
            "sap.estimator": estimator,
            "sap.continuous_factors": bool(continuous_factors),
            "sap.num_train": int(train.shape[0]),
            "sap.num_test": int(test.shape[0]),
            "sap.n_rows": int(z.shape[0]),
            "sap.seed": seed,
            "sap.fast": bool(fast),
        }
    )
    return out
