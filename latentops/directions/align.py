"""Maps between two latent spaces of the same items (model@1 -> model@2), and carried directions.

``fit_alignment(x, y, kind)`` learns y ≈ map(x) from rows that are the same items encoded by
two models: x (N, d1) in the source space, y (N, d2) in the target space.

- ``procrustes``: y ≈ (x - x̄) R + ȳ with R (d, d) orthogonal (a rotation/reflection plus a
  shift). It keeps distances and angles, so it needs d1 == d2.
- ``affine``: y ≈ x A + b, least squares, A (d1, d2). It also handles d1 != d2 (a model
  retrained with another latent size) and rescaled axes, at the price of d1 * d2 parameters.

Both are fitted on a train share of the rows and scored on the held-out rest:
``heldout_rel_error`` = |map(x) - y|² / |y - ȳ_train|² over held-out rows (0 = exact, 1 = no
better than predicting the mean). A direction is an edit displacement, so it is carried as
v -> v M (M = R or A), then normalised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from latentops.directions._split import check_holdout, holdout_mask
from latentops.errors import InvalidInputError

KINDS = ("procrustes", "affine")


@dataclass(frozen=True, eq=False)
class Alignment:
    """A fitted map z_target ≈ (z_source - shift) @ matrix + bias, with its held-out error."""

    kind: str
    matrix: np.ndarray  # (d1, d2) float64: R (orthogonal) or A
    shift: np.ndarray  # (d1,) subtracted before the matrix (x̄ for procrustes, 0 for affine)
    bias: np.ndarray  # (d2,) added after it (ȳ for procrustes, b for affine)
    metrics: dict[str, float | int] = field(default_factory=dict)

    @property
    def d_source(self) -> int:
        """Latent dimension of the source space."""
        return int(self.matrix.shape[0])

    @property
    def d_target(self) -> int:
        """Latent dimension of the target space."""
        return int(self.matrix.shape[1])

    def apply(self, z: np.ndarray) -> np.ndarray:
        """Map source latents z (N, d1) into the target space (N, d2)."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.d_source:
            raise InvalidInputError(
                f"z has shape {z.shape} but this alignment maps d={self.d_source} latents; "
                "pass latents of the alignment's source table"
            )
        return (z - self.shift) @ self.matrix + self.bias  # (N, d2)

    def carry(self, v: np.ndarray) -> np.ndarray:
        """A source direction v (d1,) as a unit target direction (d2,): the mapped displacement."""
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        if v.shape[0] != self.d_source:
            raise InvalidInputError(
                f"direction has d={v.shape[0]} but this alignment maps d={self.d_source} "
                "latents; carry a direction fitted on the alignment's source table"
            )
        out = v @ self.matrix  # (d2,)
        norm = float(np.linalg.norm(out))
        if norm <= 1e-12:
            raise InvalidInputError(
                "the alignment maps this direction to zero (the target model does not vary "
                "along it); refit the direction on the target table instead"
            )
        return out / norm


def _check_pair(x: np.ndarray, y: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Float64 copies of x (N, d1), y (N, d2) after checking kind, shapes and finiteness."""
    if kind not in KINDS:
        raise InvalidInputError(f"alignment kind {kind!r} is not one of {KINDS}")
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise InvalidInputError(
            f"x {x.shape} and y {y.shape} must be (N, d1) and (N, d2) with one row per shared "
            "item, in the same item order"
        )
    if kind == "procrustes" and x.shape[1] != y.shape[1]:
        raise InvalidInputError(
            f"procrustes maps between spaces of one size but the tables have d={x.shape[1]} "
            f"and d={y.shape[1]}; use the affine map (--map affine) for different d"
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InvalidInputError("latents hold NaN/inf values; re-encode the table(s) first")
    return x, y


def _fit(kind: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(matrix, shift, bias) of ``kind`` fitted on x (n, d1), y (n, d2)."""
    if kind == "procrustes":
        mx, my = x.mean(axis=0), y.mean(axis=0)  # (d,)
        u, _, vt = np.linalg.svd((x - mx).T @ (y - my))  # cross-covariance (d, d)
        return u @ vt, mx, my
    ones = np.ones((x.shape[0], 1))
    coef, *_ = np.linalg.lstsq(np.hstack([x, ones]), y, rcond=None)  # (d1 + 1, d2)
    return coef[:-1], np.zeros(x.shape[1]), coef[-1]


def _rel_error(pred: np.ndarray, y: np.ndarray, y_mean: np.ndarray) -> float:
    """|pred - y|² / |y - y_mean|²: 0 exact, 1 as good as predicting the mean."""
    spread = float(((y - y_mean) ** 2).sum())
    return float(((pred - y) ** 2).sum()) / max(spread, 1e-30)


def fit_alignment(
    x: np.ndarray, y: np.ndarray, kind: str = "procrustes", *, holdout: float = 0.2, seed: int = 0
) -> Alignment:
    """Fit a ``kind`` map from x (N, d1) to y (N, d2) on a train split; score it held out."""
    x, y = _check_pair(x, y, kind)
    holdout = check_holdout(holdout, allow_zero=False)
    n, d1 = x.shape
    need = d1 + 1  # a full-rank cross-covariance / least squares needs more rows than d
    hold = holdout_mask(n, holdout, np.random.default_rng(seed)) if n >= 2 else np.ones(n, bool)
    n_train = int((~hold).sum())
    if n_train < need:
        raise InvalidInputError(
            f"only {n} shared item(s) ({n_train} to fit after holding out {int(hold.sum())}) "
            f"but a {kind} map of d={d1} latents needs at least {need} to fit; encode more "
            "of the same items into both tables"
        )
    matrix, shift, bias = _fit(kind, x[~hold], y[~hold])
    fitted = Alignment(kind, matrix, shift, bias)
    y_mean = y[~hold].mean(axis=0)
    held = fitted.apply(x[hold])  # (n_hold, d2)
    metrics = {
        "heldout_rel_error": _rel_error(held, y[hold], y_mean),
        "heldout_rmse": float(np.sqrt(((held - y[hold]) ** 2).sum(axis=1).mean())),
        "train_rel_error": _rel_error(fitted.apply(x[~hold]), y[~hold], y_mean),
        "n_train": n_train,
        "n_holdout": int(hold.sum()),
    }
    return Alignment(kind, matrix, shift, bias, metrics)


def procrustes_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row distance |map(x_i) - y_i| (N,) after a Procrustes map fitted on all rows."""
    x, y = _check_pair(x, y, "procrustes")
    if x.shape[0] < x.shape[1] + 1:
        raise InvalidInputError(
            f"only {x.shape[0]} shared item(s) but aligning d={x.shape[1]} latents needs at "
            f"least {x.shape[1] + 1}; encode more of the same items into both tables"
        )
    matrix, shift, bias = _fit("procrustes", x, y)
    return np.linalg.norm((x - shift) @ matrix + bias - y, axis=1)
