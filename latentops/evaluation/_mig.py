"""Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs").

For each factor y_k: MIG_k = (I(z_a; y_k) - I(z_b; y_k)) / H(y_k), where z_a and z_b are the
latent dims with the largest and second-largest mutual information with y_k; MIG is the
mean over factors. Like disentanglement_lib's ``compute_mig`` (unsupervised_study_v1:
num_train=10000, histogram discretizer, 20 bins), MI is a plug-in estimate on histogram-
discretized latents, which is why "mig.estimator" is recorded with every number. Binning
caps MI at ln(n_bins): a noiseless axis-aligned code scores 1 only for factors with at most
``n_bins`` values (a 40-valued factor scores about ln 20 / ln 40 = 0.81 with 20 bins).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from latentops.errors import InvalidInputError
from latentops.evaluation._checks import (
    ArrayLike,
    check_seed,
    check_table,
    pick,
    require_varying,
    sample_rows,
)
from latentops.evaluation._discretize import (
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
)
from latentops.evaluation._protocol import Result

REFERENCE_NUM_TRAIN = 10_000  # disentanglement_lib unsupervised_study_v1/metric_configs/mig.gin
FAST_NUM_TRAIN = 2_000  # disent's fast setting


def compute_mig(z: np.ndarray, y: np.ndarray, n_bins: int) -> np.ndarray:
    """Per-factor MIG (K,) of latents z (N, d) against integer factors y (N, K)."""
    if z.shape[1] < 2:
        raise InvalidInputError(
            f"latents have d={z.shape[1]} dim(s) but MIG compares the best two dims per factor; "
            "it needs d >= 2"
        )
    m = discrete_mutual_info(histogram_discretize(z, n_bins), y)  # (d, K)
    h = discrete_entropy(y)  # (K,)
    top = np.sort(m, axis=0)[::-1]  # (d, K), descending per factor
    return (top[0] - top[1]) / h


def mig(
    latents: ArrayLike,
    factors: ArrayLike,
    *,
    n_bins: int = 20,
    num_train: int | None = None,
    fast: bool = False,
    seed: int = 0,
    factor_names: Sequence[str] | None = None,
) -> Result:
    """Mutual Information Gap of latents (N, d) w.r.t. integer factors (N, K), with protocol."""
    z, y, names = check_table(latents, factors, names=factor_names)
    seed = check_seed(seed)
    num_train = pick(num_train, fast, REFERENCE_NUM_TRAIN, FAST_NUM_TRAIN, "num_train")
    n_rows = z.shape[0]
    rows = sample_rows(n_rows, num_train, np.random.default_rng(seed))
    z, y = z[rows], y[rows]
    require_varying(y, names, "raise num_train (the sample missed its other values) or drop it")
    per_factor = compute_mig(z, y, n_bins)  # (K,)
    out: Result = {"mig": float(per_factor.mean())}
    out.update({f"mig.factor.{name}": float(v) for name, v in zip(names, per_factor, strict=True)})
    out.update(
        {
            "mig.estimator": "histogram-discretized",
            "mig.n_bins": int(n_bins),
            "mig.num_train": int(rows.shape[0]),
            "mig.n_rows": int(n_rows),
            "mig.seed": seed,
            "mig.fast": bool(fast),
        }
    )
    return out
