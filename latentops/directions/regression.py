"""Ridge regression direction for continuous attributes (scale, position, a scorer's output).

Closed form with an unpenalised intercept, identical to scikit-learn's ``Ridge(alpha)``:
coef = (Zc^T Zc + alpha I)^-1 Zc^T yc on centred training rows. The d x d normal equations
are built in one streaming float64 pass, so 1M rows never get copied.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from latentops.directions._data import ensure_direction
from latentops.directions._stats import moments
from latentops.errors import InvalidInputError


def ridge_vector(
    z: np.ndarray, y: np.ndarray, train: np.ndarray, *, alpha: float
) -> tuple[np.ndarray, float]:
    """Ridge coefficients (d,) and intercept fitted on the rows of ``z`` where ``train``."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha >= 0:
        raise InvalidInputError(f"alpha={alpha!r} must be a number >= 0 (L2 strength)")
    m = moments(z, train, y)
    a = m.scatter + alpha * np.eye(z.shape[1])  # (d, d)
    try:
        coef = scipy.linalg.solve(a, m.cross, assume_a="pos")  # (d,)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError) as exc:
        raise InvalidInputError(
            f"ridge normal equations are singular with alpha={alpha} ({exc}); some latent "
            "dimensions are constant or duplicated on these rows, so use alpha > 0"
        ) from exc
    intercept = float(m.y_mean - m.mean @ coef)
    y_sd = float(np.std(y[train]))
    z_sd = float(np.sqrt(np.trace(m.scatter) / max(m.n, 1)))
    return (
        ensure_direction(
            coef,
            float(np.linalg.norm(coef)) * z_sd / max(y_sd, 1e-300),
            "ridge",
            "no linear combination of the latents predicts y; check the label column "
            "or lower alpha",
        ),
        intercept,
    )
