"""Histogram discretization and discrete mutual information, as in disentanglement_lib.

The reference (``evaluation/metrics/utils.py``) bins every latent dim into ``num_bins``
equal-width bins over its own [min, max] (``np.histogram`` edges, last edge dropped, then
``np.digitize``) and estimates MI and entropy with ``sklearn.metrics.mutual_info_score``
(natural log, plug-in estimator). We reproduce that exactly, so numbers are comparable.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score

from latentops._validate import is_int
from latentops.errors import InvalidInputError


def histogram_discretize(z: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Bin each column of ``z`` (N, d) into ``n_bins`` equal-width bins -> int codes (N, d)."""
    if not is_int(n_bins, 2, numpy=True):
        raise InvalidInputError(
            f"n_bins={n_bins!r} must be an integer >= 2 (disentanglement_lib uses 20)"
        )
    codes = np.zeros(z.shape, dtype=np.int64)  # (N, d)
    for i in range(z.shape[1]):
        # np.histogram widens a constant column to [v - 0.5, v + 0.5]: one bin, zero MI
        edges = np.histogram_bin_edges(z[:, i], bins=int(n_bins))  # (n_bins + 1,)
        codes[:, i] = np.digitize(z[:, i], edges[:-1])
    return codes


def discrete_mutual_info(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Plug-in mutual information (nats) between each code column and each factor -> (d, K)."""
    d, k = codes.shape[1], factors.shape[1]
    m = np.zeros((d, k))
    for i in range(d):
        for j in range(k):
            m[i, j] = mutual_info_score(factors[:, j], codes[:, i])
    return m


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """Plug-in entropy (nats) of each factor column -> (K,)."""
    return np.array(
        [mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])]
    )
