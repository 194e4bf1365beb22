"""Private filter -> pattern conversion and the inactive-dimension share of a direction.

A linear readout's weights w (a regression or classifier normal) are a *filter*: they also
lean on noise and on dimensions the decoder ignores, because cancelling noise helps a probe.
The direction along which the attribute actually varies in the data is the *pattern*
Cov(z) w (Haufe et al., NeuroImage 2014); editing along it moves z where the data move.
"""

from __future__ import annotations

import numpy as np

from latentops.directions._stats import moments

FORMS = ("filter", "pattern")
# a dimension whose std is under this share of the largest one carries (almost) no code:
# a collapsed VAE dimension has std ~0.04 where active ones have ~1
INACTIVE_STD_RATIO = 0.1
# warn when more than this share of a direction's squared weight is on inactive dimensions
INACTIVE_WARN = 0.25


def covariance(z: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Covariance (d, d) of the rows of z selected by ``mask``, in float64."""
    m = moments(z, mask)
    return m.scatter / max(m.n - 1, 1)


def pattern_of(cov: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The unit activation pattern Cov(z) w of filter w (the filter itself if that is 0)."""
    a = cov @ w.astype(np.float64)  # (d,)
    norm = float(np.linalg.norm(a))
    return a / norm if norm > 0 else w / np.linalg.norm(w)


def inactive_dims(cov: np.ndarray) -> np.ndarray:
    """Mask (d,) of dimensions whose std is below ``INACTIVE_STD_RATIO`` of the largest."""
    std = np.sqrt(np.clip(np.diag(cov), 0.0, None))  # (d,)
    top = float(std.max()) if std.size else 0.0
    return std < INACTIVE_STD_RATIO * top if top > 0 else np.zeros_like(std, dtype=bool)


def inactive_share(v: np.ndarray, inactive: np.ndarray) -> float:
    """Share of v's squared weight that sits on the ``inactive`` dimensions."""
    v = v.astype(np.float64)
    return float((v[inactive] ** 2).sum() / (v**2).sum())


def spread_along(cov: np.ndarray, v: np.ndarray) -> float:
    """Std of the data's projection on unit v: strength 1 moves z by this much along v."""
    v = v.astype(np.float64) / np.linalg.norm(v)
    return float(np.sqrt(max(float(v @ cov @ v), 0.0)))
