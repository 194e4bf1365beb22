"""BetaVAE disentanglement score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual
Concepts with a Constrained Variational Framework").

One training point: pick a factor k uniformly, draw ``batch_size`` pairs of items that share
the value of factor k (each pair its own value), and take the mean absolute latent
difference over the pairs (d,). A linear classifier (sklearn ``LogisticRegression``,
lbfgs, C=1, as in disentanglement_lib's ``compute_beta_vae_sklearn``, but run to convergence;
batch_size=64, num_train=10000, num_eval=5000) predicts k from it; the score is its
accuracy on fresh points. Pairs come from the table (see ``_sampling``), not from a
simulator.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from latentops.errors import InvalidInputError
from latentops.evaluation._checks import ArrayLike, check_seed, check_table, pick
from latentops.evaluation._protocol import Result
from latentops.evaluation._sampling import FactorGroups, chunks

REFERENCE = {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000}  # beta_vae_sklearn
FAST = {"batch_size": 64, "num_train": 1_000, "num_eval": 500}
_MAX_PAIRS_PER_CHUNK = 1 << 16
_MAX_ITER = 2_000


def pair_features(
    z: np.ndarray, groups: FactorGroups, num_points: int, batch_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``num_points`` features (P, d) = mean |z_a - z_b| over same-factor pairs, and labels (P,)."""
    labels = rng.integers(groups.n_factors, size=num_points)  # (P,) the fixed factor
    feats = np.zeros((num_points, z.shape[1]))
    per_chunk = max(1, _MAX_PAIRS_PER_CHUNK // batch_size)
    start = 0
    for size in chunks(num_points, per_chunk):
        block = slice(start, start + size)
        a = rng.integers(groups.n_rows, size=(size, batch_size))  # (P', B) first items
        b = np.empty_like(a)
        for k in range(groups.n_factors):
            mine = labels[block] == k
            b[mine] = groups.partners(k, a[mine], rng)  # same value of factor k as a
        feats[block] = np.abs(z[a] - z[b]).mean(axis=1)  # (P', B, d) -> (P', d)
        start += size
    return feats, labels


def beta_vae_score(
    latents: ArrayLike,
    factors: ArrayLike,
    *,
    batch_size: int | None = None,
    num_train: int | None = None,
    num_eval: int | None = None,
    fast: bool = False,
    seed: int = 0,
) -> Result:
    """BetaVAE score (accuracy at naming the fixed factor) of latents (N, d) vs factors (N, K)."""
    z, y, _ = check_table(latents, factors)
    if y.shape[1] < 2:
        raise InvalidInputError(
            f"the BetaVAE score classifies which of K factors was held fixed, so it needs "
            f"K >= 2 factor columns, got K={y.shape[1]}"
        )
    seed = check_seed(seed)
    batch_size = pick(batch_size, fast, REFERENCE["batch_size"], FAST["batch_size"], "batch_size")
    num_train = pick(num_train, fast, REFERENCE["num_train"], FAST["num_train"], "num_train")
    num_eval = pick(num_eval, fast, REFERENCE["num_eval"], FAST["num_eval"], "num_eval")
    rng = np.random.default_rng(seed)
    groups = FactorGroups(y)
    x_train, k_train = pair_features(z, groups, num_train, batch_size, rng)
    x_eval, k_eval = pair_features(z, groups, num_eval, batch_size, rng)
    if np.unique(k_train).shape[0] < 2:
        raise InvalidInputError(
            f"num_train={num_train} training points all held the same factor fixed; the "
            "classifier needs at least two classes: raise num_train"
        )
    # the reference's default max_iter=100 stops lbfgs early (ConvergenceWarning) on codes
    # with weak signal, making the number an artifact of the cap; we let it converge
    model = LogisticRegression(max_iter=_MAX_ITER, random_state=seed)
    model.fit(x_train, k_train)
    return {
        "beta_vae.train_accuracy": float(np.mean(model.predict(x_train) == k_train)),
        "beta_vae.eval_accuracy": float(np.mean(model.predict(x_eval) == k_eval)),
        "beta_vae.estimator": f"logistic-regression-lbfgs-C1-max_iter{_MAX_ITER}",
        "beta_vae.sampling": "table-groups",
        "beta_vae.batch_size": batch_size,
        "beta_vae.num_train": num_train,
        "beta_vae.num_eval": num_eval,
        "beta_vae.min_group_rows": groups.min_group_size(),
        "beta_vae.n_rows": int(z.shape[0]),
        "beta_vae.seed": seed,
        "beta_vae.fast": bool(fast),
    }
