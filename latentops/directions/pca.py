"""Principal directions of a latent table (unsupervised), via the covariance eigh.

For N >> d, eigh of the d x d covariance built in one streaming float64 pass is far cheaper
than an SVD of the (N, d) table and gives the same components. Signs follow scikit-learn's
``svd_flip`` convention: each component's largest-|loading| coordinate is positive, so the
result is deterministic and matches ``sklearn.decomposition.PCA``.
"""

from __future__ import annotations

import numpy as np

from latentops._validate import is_int
from latentops.directions._stats import moments
from latentops.errors import InvalidInputError


def orient_largest_positive(vectors: np.ndarray) -> np.ndarray:
    """Flip each row of (k, d) ``vectors`` so its largest-|value| entry is positive."""
    idx = np.argmax(np.abs(vectors), axis=1)  # (k,)
    signs = np.sign(vectors[np.arange(vectors.shape[0]), idx])
    signs[signs == 0] = 1
    return vectors * signs[:, None]


def check_n_components(k: int, d: int, method: str) -> int:
    """Validate a number of components: an int in [1, d]."""
    if not is_int(k, numpy=True) or not 1 <= k <= d:
        raise InvalidInputError(
            f"n_components={k!r} must be an int between 1 and d={d} for method {method!r}"
        )
    return int(k)


def pca_components(
    z: np.ndarray, mask: np.ndarray | None, k: int
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Top-``k`` components (k, d), their variances (k,), the total variance and row count."""
    m = moments(z, mask)
    if m.n < 2:
        raise InvalidInputError(
            f"PCA needs at least 2 rows to estimate a variance, got {m.n}; pass more latents"
        )
    cov = m.scatter / (m.n - 1)  # (d, d), the same n - 1 as sklearn
    evals, evecs = np.linalg.eigh(cov)  # ascending
    order = np.argsort(evals)[::-1][:k]
    variances = np.clip(evals[order], 0.0, None)
    total = float(np.clip(evals, 0.0, None).sum())
    if total <= 0 or variances[0] <= 0:
        raise InvalidInputError(
            f"the {m.n} latent rows are all identical, so they have no principal direction; "
            "check that the encoder is not collapsed"
        )
    if variances[-1] <= 1e-12 * total:
        raise InvalidInputError(
            f"component {int(np.argmax(variances <= 1e-12 * total))} has zero variance: the "
            f"latents span fewer than n_components={k} dimensions; ask for fewer components"
        )
    return orient_largest_positive(evecs[:, order].T), variances, total, m.n


def variance_along(
    z: np.ndarray, mask: np.ndarray, vectors: np.ndarray
) -> tuple[np.ndarray, float]:
    """Variance of the ``mask`` rows of ``z`` along each of (k, d) ``vectors``, and in total."""
    m = moments(z, mask)
    cov = m.scatter / max(m.n - 1, 1)
    return np.einsum("kd,de,ke->k", vectors, cov, vectors), float(np.trace(cov))
