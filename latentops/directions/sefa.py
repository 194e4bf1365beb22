"""SeFa: closed-form factorisation of the first decoder layer (Shen & Zhou, CVPR 2021).

The first layer maps a latent z (d,) to A z + b with A of shape (out, d). The directions v
that change its output most solve max |A v|^2 subject to |v| = 1: the top eigenvectors of
A^T A. As in the authors' code (genforce/sefa ``factorize_weight``), each output unit's weight
vector (a row of A; a column of their (d, out) matrix) is first scaled to unit norm so a few
large units do not dominate. No data is needed.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from latentops.directions.direction import Direction
from latentops.directions.pca import check_n_components, orient_largest_positive
from latentops.errors import InvalidInputError


def _as_weight(weight: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(weight, torch.Tensor):
        weight = weight.detach().cpu().float().numpy()
    if not isinstance(weight, np.ndarray) or weight.ndim != 2 or 0 in weight.shape:
        shape = getattr(weight, "shape", type(weight).__name__)
        raise InvalidInputError(
            f"weight must be a 2-D (out, d) matrix (e.g. decoder.fc.weight), got {shape}; "
            "flatten a conv layer's weight to (out, d) first"
        )
    if not np.issubdtype(weight.dtype, np.number) or not np.isfinite(weight).all():
        raise InvalidInputError(
            f"weight of shape {weight.shape} must be finite numbers; load a trained checkpoint"
        )
    return weight.astype(np.float64)


def sefa_directions(
    weight: np.ndarray | torch.Tensor, k: int = 5, *, normalize: bool = True
) -> list[Direction]:
    """Top-``k`` SeFa directions of a first-layer weight (out, d), strongest first."""
    a = _as_weight(weight)  # (out, d)
    k = check_n_components(k, a.shape[1], "sefa")
    sha = hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()
    if normalize:
        norms = np.linalg.norm(a, axis=1, keepdims=True)  # (out, 1)
        if np.any(norms == 0):
            raise InvalidInputError(
                f"{int((norms == 0).sum())} output unit(s) of weight {a.shape} have all-zero "
                "weights and cannot be normalised; pass normalize=False or drop those rows"
            )
        a = a / norms
    evals, evecs = np.linalg.eigh(a.T @ a)  # (d,), (d, d) ascending
    order = np.argsort(evals)[::-1]
    evals = np.clip(evals[order], 0.0, None)
    total = float(evals.sum())
    if total <= 0 or evals[k - 1] <= 1e-12 * total:
        raise InvalidInputError(
            f"weight {a.shape} has rank below k={k} (eigenvalues {evals[:k].round(6).tolist()}); "
            "ask for fewer directions"
        )
    vectors = orient_largest_positive(evecs[:, order[:k]].T)  # (k, d)
    params = {"normalize": bool(normalize), "weight_shape": list(a.shape), "weight_sha256": sha}
    return [
        Direction(
            vector=vectors[i],
            method="sefa",
            params=params,
            metrics={"eigenvalue": float(evals[i]), "eigenvalue_share": float(evals[i]) / total},
            kind="unsupervised",
            component=i,
        )
        for i in range(k)
    ]
