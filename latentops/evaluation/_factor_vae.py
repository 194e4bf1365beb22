"""FactorVAE disentanglement score (Kim & Mnih 2018, "Disentangling by Factorising").

Latents are scaled by their global std (dims with std < ``prune_threshold`` are dropped as
collapsed). One vote: pick a factor k, draw ``batch_size`` items sharing one value of k,
and find the active dim whose normalised variance over the batch is smallest. The
majority-vote classifier maps each dim to the factor that voted for it most; the score is
its accuracy on fresh votes. Settings follow disentanglement_lib's unsupervised_study_v1
(batch_size=64, num_train=10000, num_eval=5000, num_variance_estimate=10000, threshold 0.05).

Two deliberate departures from the reference code: its argmin indexes the *active* dims but
is used as a vote for the full dim list (wrong whenever a dim was pruned), and it reports
``num_active_dims = d``; here votes go to the true dim index and the active count is
reported. With no pruned dims both agree. Batches come from the table (see ``_sampling``).
"""

from __future__ import annotations

import numpy as np

from latentops.errors import InvalidInputError
from latentops.evaluation._checks import ArrayLike, check_seed, check_table, pick, sample_rows
from latentops.evaluation._protocol import Result
from latentops.evaluation._sampling import FactorGroups, chunks

REFERENCE = {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000, "num_var": 10_000}
FAST = {"batch_size": 64, "num_train": 700, "num_eval": 350, "num_var": 1_000}  # disent fast
_MAX_ROWS_PER_CHUNK = 1 << 16


def factor_votes(
    z: np.ndarray,
    groups: FactorGroups,
    global_var: np.ndarray,
    active: np.ndarray,
    num_points: int,
    batch_size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Vote counts (K, d): how often fixing factor k made dim i the least-varying active dim."""
    votes = np.zeros((groups.n_factors, z.shape[1]), dtype=np.int64)
    active_idx = np.flatnonzero(active)  # (d_active,)
    scale = global_var[active_idx]  # (d_active,)
    per_chunk = max(1, _MAX_ROWS_PER_CHUNK // batch_size)
    for size in chunks(num_points, per_chunk):
        fixed = rng.integers(groups.n_factors, size=size)  # (P,)
        anchor = rng.integers(groups.n_rows, size=size)  # (P,) sets the shared value
        batch = np.repeat(anchor[:, None], batch_size, axis=1)  # (P, B)
        for k in range(groups.n_factors):
            mine = fixed == k
            batch[mine, 1:] = groups.partners(k, batch[mine, 1:], rng)
        local_var = np.var(z[batch][:, :, active_idx], axis=1, ddof=1)  # (P, d_active)
        dim = active_idx[np.argmin(local_var / scale, axis=1)]  # (P,) in full-dim indices
        np.add.at(votes, (fixed, dim), 1)
    return votes


def factor_vae_score(
    latents: ArrayLike,
    factors: ArrayLike,
    *,
    batch_size: int | None = None,
    num_train: int | None = None,
    num_eval: int | None = None,
    num_variance_estimate: int | None = None,
    prune_threshold: float = 0.05,
    fast: bool = False,
    seed: int = 0,
) -> Result:
    """FactorVAE score (majority-vote accuracy) of latents (N, d) vs factors (N, K)."""
    z, y, _ = check_table(latents, factors)
    seed = check_seed(seed)
    batch_size = pick(batch_size, fast, REFERENCE["batch_size"], FAST["batch_size"], "batch_size")
    if batch_size < 2:
        raise InvalidInputError(f"batch_size={batch_size} must be >= 2 to estimate a variance")
    num_train = pick(num_train, fast, REFERENCE["num_train"], FAST["num_train"], "num_train")
    num_eval = pick(num_eval, fast, REFERENCE["num_eval"], FAST["num_eval"], "num_eval")
    num_var = pick(
        num_variance_estimate, fast, REFERENCE["num_var"], FAST["num_var"], "num_variance_estimate"
    )
    if not prune_threshold >= 0:
        raise InvalidInputError(f"prune_threshold={prune_threshold!r} must be a std >= 0")
    rng = np.random.default_rng(seed)
    var_rows = sample_rows(z.shape[0], num_var, rng)
    global_var = np.var(z[var_rows], axis=0, ddof=1)  # (d,)
    active = np.sqrt(global_var) >= prune_threshold
    # a zero-variance dim cannot be normalised even at threshold 0
    active &= global_var > 0
    out: Result = {}
    if not active.any():
        out.update({"factor_vae.train_accuracy": 0.0, "factor_vae.eval_accuracy": 0.0})
    else:
        groups = FactorGroups(y)
        train = factor_votes(z, groups, global_var, active, num_train, batch_size, rng)
        evals = factor_votes(z, groups, global_var, active, num_eval, batch_size, rng)
        classifier = np.argmax(train, axis=0)  # (d,) factor predicted for each dim
        dims = np.arange(z.shape[1])
        out["factor_vae.train_accuracy"] = float(train[classifier, dims].sum() / train.sum())
        out["factor_vae.eval_accuracy"] = float(evals[classifier, dims].sum() / evals.sum())
    out.update(
        {
            "factor_vae.estimator": "majority-vote",
            "factor_vae.sampling": "table-groups",
            "factor_vae.batch_size": batch_size,
            "factor_vae.num_train": num_train,
            "factor_vae.num_eval": num_eval,
            "factor_vae.num_variance_estimate": int(var_rows.shape[0]),
            "factor_vae.prune_threshold": str(float(prune_threshold)),
            "factor_vae.num_active_dims": int(active.sum()),
            "factor_vae.n_rows": int(z.shape[0]),
            "factor_vae.seed": seed,
            "factor_vae.fast": bool(fast),
        }
    )
    return out
