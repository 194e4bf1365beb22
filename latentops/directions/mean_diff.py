"""Difference of class means: the simplest attribute direction, mean(z | pos) - mean(z | neg)."""

from __future__ import annotations

import numpy as np

from latentops.directions._data import ensure_direction
from latentops.directions._stats import weighted_row_sum


def mean_diff_vector(z: np.ndarray, t: np.ndarray, train: np.ndarray) -> np.ndarray:
    """mean(z[train & t]) - mean(z[train & ~t]) as a (d,) float64 vector (not normalised)."""
    pos, neg = train & t, train & ~t  # (N,) masks
    # one float64 pass: weights +1/n_pos on positives and -1/n_neg on negatives
    w = pos / pos.sum() - neg / neg.sum()  # (N,)
    diff, sumsq = weighted_row_sum(z, w)  # (d,)
    scale = float(np.sqrt(sumsq / z.size))
    return ensure_direction(
        diff,
        float(np.linalg.norm(diff)) / max(scale, 1e-300),
        "mean_diff",
        "the two classes have the same mean latent; check that the label really varies "
        "with the data (e.g. it is not shuffled relative to z)",
    )
