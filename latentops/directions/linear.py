"""Normals of linear classifiers (scikit-learn): L2 logistic regression and a linear SVM.

The SVM follows InterFaceGAN: a linear boundary between two classes (optionally the top and
bottom percent of a continuous score, chosen in ``_targets``), whose unit normal is the edit
direction. LinearSVC (liblinear, primal when N > d) replaces InterFaceGAN's kernel SVC,
which is quadratic in N. Both fit on a sample of at most ``max_train`` training rows.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from latentops._validate import is_int
from latentops.directions._data import ensure_direction
from latentops.errors import InvalidInputError

if TYPE_CHECKING:  # sklearn takes seconds to import: only fitting pays for it
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

_HINT = "the classifier found no linear signal; check the labels, or weaken the penalty (larger C)"


def _check_common(C: float, class_weight: str | None, max_iter: int) -> None:
    if isinstance(C, bool) or not isinstance(C, (int, float)) or not C > 0:
        raise InvalidInputError(f"C={C!r} must be a positive number (inverse L2 strength)")
    if class_weight not in (None, "balanced"):
        raise InvalidInputError(
            f"class_weight={class_weight!r} must be None or 'balanced' (reweights rare classes)"
        )
    if not is_int(max_iter, 1):
        raise InvalidInputError(f"max_iter={max_iter!r} must be a positive int")


def _normal(model: LogisticRegression | LinearSVC, z_fit: np.ndarray, method: str) -> np.ndarray:
    w = model.coef_.reshape(-1).astype(np.float64)  # (d,) points to classes_[1] = True
    flat = np.ravel(z_fit)
    scale = float(np.sqrt(np.vdot(flat, flat) / flat.size))  # rms of the latents: only a scale
    return ensure_direction(w, float(np.linalg.norm(w)) * scale, method, _HINT)


def _fit(model: LogisticRegression | LinearSVC, z_fit: np.ndarray, t_fit: np.ndarray) -> int:
    """Fit and return the iteration count; non-convergence is reported in metrics, not warned."""
    with warnings.catch_warnings():
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(z_fit, t_fit)
    return int(np.max(model.n_iter_))


def logistic_vector(
    z_fit: np.ndarray, t_fit: np.ndarray, *, C: float, class_weight: str | None, max_iter: int
) -> tuple[np.ndarray, dict[str, int]]:
    """Weight vector of an L2 logistic regression on (z_fit (M, d), t_fit (M,) bool)."""
    _check_common(C, class_weight, max_iter)
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter)
    n_iter = _fit(model, z_fit, t_fit)
    return _normal(model, z_fit, "logistic"), {
        "n_iter": n_iter,
        "converged": int(n_iter < max_iter),
    }


def linear_svm_vector(
    z_fit: np.ndarray, t_fit: np.ndarray, *, C: float, class_weight: str | None, max_iter: int
) -> tuple[np.ndarray, dict[str, int]]:
    """Normal of a linear SVM boundary (squared hinge, L2) on (z_fit (M, d), t_fit (M,) bool)."""
    _check_common(C, class_weight, max_iter)
    from sklearn.svm import LinearSVC

    model = LinearSVC(C=C, class_weight=class_weight, max_iter=max_iter, dual="auto")
    n_iter = _fit(model, z_fit, t_fit)
    return _normal(model, z_fit, "linear_svm"), {
        "n_iter": n_iter,
        "converged": int(n_iter < max_iter),
    }
