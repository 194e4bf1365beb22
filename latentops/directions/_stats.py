"""Private streaming moments of a latent table in float64 (no full-size copies of z).

A 1M x 64 float32 table is 256 MB; casting it whole to float64 or gathering a training
split would double that. Blocks of rows are cast and accumulated instead, which also keeps
the sums accurate for float32 latents with a large common offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentops.directions._data import row_blocks


@dataclass(frozen=True)
class Moments:
    """Count, mean, scatter matrix and (optionally) cross-moments with a target y."""

    n: int
    mean: np.ndarray  # (d,)
    scatter: np.ndarray  # (d, d) sum of (z - mean)(z - mean)^T
    y_mean: float = 0.0
    cross: np.ndarray | None = None  # (d,) sum of (z - mean)(y - y_mean)


def moments(z: np.ndarray, mask: np.ndarray | None = None, y: np.ndarray | None = None) -> Moments:
    """Moments of the rows of ``z`` selected by ``mask`` (all rows when None)."""
    d = z.shape[1]
    shift = None  # subtracting a rough mean first avoids cancellation in the scatter
    n, s1, s2 = 0, np.zeros(d), np.zeros((d, d))
    sy, sxy = 0.0, np.zeros(d)
    for rows in row_blocks(z.shape[0]):
        block = z[rows] if mask is None else z[rows][mask[rows]]  # (b, d)
        if block.shape[0] == 0:
            continue
        block = block.astype(np.float64)
        if shift is None:
            shift = block.mean(axis=0)
        block -= shift
        n += block.shape[0]
        s1 += block.sum(axis=0)
        s2 += block.T @ block
        if y is not None:
            yb = y[rows] if mask is None else y[rows][mask[rows]]  # (b,)
            sy += float(yb.sum())
            sxy += block.T @ yb
    if shift is None:
        shift = np.zeros(d)
    delta = s1 / max(n, 1)  # mean of the shifted rows
    scatter = s2 - n * np.outer(delta, delta)
    if y is None:
        return Moments(n=n, mean=shift + delta, scatter=scatter)
    y_mean = sy / max(n, 1)
    cross = sxy - n * delta * y_mean
    return Moments(n=n, mean=shift + delta, scatter=scatter, y_mean=y_mean, cross=cross)


def weighted_row_sum(z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """``w @ z`` in float64, plus the sum of squares of all entries of ``z`` (for its scale)."""
    out, sumsq = np.zeros(z.shape[1]), 0.0
    for rows in row_blocks(z.shape[0]):
        block = z[rows].astype(np.float64)  # (b, d)
        out += w[rows] @ block
        sumsq += float(np.einsum("ij,ij->", block, block))
    return out, sumsq


def project(z: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Projections z·v of every row, (N,) float64 (v is cast to z's dtype for the matvec)."""
    return (z @ v.astype(z.dtype)).astype(np.float64)
