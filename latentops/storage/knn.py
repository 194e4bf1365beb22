"""Exact k-nearest-neighbour search over a pinned latent table version (a Snapshot).

Searched with one float32 matrix product plus ``torch.topk``, the same blocked GEMM +
selection FAISS's flat index does. The best few candidates are then re-ranked in float64 so
the returned order matches a float64 brute-force reference (ties broken by item_id).
The query front end (filters, item queries, exact or approximate) is
``latentops.storage.search``; approximate indexes live in ``latentops.storage.ann``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from latentops._validate import is_int
from latentops.errors import InvalidInputError
from latentops.storage import sql
from latentops.storage.snapshot import Snapshot

METRICS = sql.METRICS
_BLOCK = 1 << 26  # score-matrix entries per block (256 MB of float32)


def check_metric(metric: str) -> str:
    """Return ``metric`` if it is cosine, l2 or ip."""
    if metric not in METRICS:
        raise InvalidInputError(f"metric={metric!r} is not one of {METRICS}; cosine is the default")
    return metric


def check_k(k: int) -> int:
    """Return ``k`` if it is a positive int."""
    if not is_int(k, 1, numpy=True):
        raise InvalidInputError(f"k={k!r} must be a positive int (how many neighbours)")
    return int(k)


def as_queries(vector: Any, d: int, metric: str) -> np.ndarray:
    """Query vectors as (Q, d) float32: one (d,) vector or a (Q, d) batch, finite."""
    if isinstance(vector, torch.Tensor):
        vector = vector.detach().cpu().numpy()
    try:
        q = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"query vector is not numeric ({exc}); pass a (d,) float array"
        ) from None
    q = q[None] if q.ndim == 1 else q  # (Q, d)
    if q.ndim != 2 or q.shape[1] != d or q.shape[0] == 0:
        raise InvalidInputError(
            f"query has shape {tuple(np.shape(vector))} but the table holds d={d} latents; "
            f"pass one ({d},) vector or a (Q, {d}) batch from the same model"
        )
    if not np.isfinite(q).all():
        raise InvalidInputError(f"query holds {int((~np.isfinite(q)).sum())} NaN/inf value(s)")
    if metric == "cosine" and (np.linalg.norm(q, axis=1) == 0).any():
        raise InvalidInputError("a zero query vector has no cosine distance; use metric l2 or ip")
    return np.ascontiguousarray(q)


def _scores(
    snap: Snapshot, q: torch.Tensor, metric: str, rows: torch.Tensor | None
) -> torch.Tensor:
    """Similarity (higher = closer) of queries q (B, d) to the searched rows -> (B, n)."""
    X = snap.matrix(metric)  # (N, d)
    X = X if rows is None else X[rows]  # (n, d)
    if metric == "cosine":
        q = q / q.norm(dim=1, keepdim=True)
    s = q @ X.T  # (B, n)
    if metric == "l2":  # |x - q|^2 = |x|^2 - 2 x.q + |q|^2, and |q|^2 is constant per query
        sq = snap.sqnorms() if rows is None else snap.sqnorms()[rows]
        s = 2 * s - sq
    return s


def distances(z: np.ndarray, q: np.ndarray, metric: str) -> np.ndarray:
    """Exact float64 distances (lower = closer) of rows z (Q, c, d) to queries q (Q, d)."""
    z = z.astype(np.float64)
    q = q.astype(np.float64)[:, None, :]  # (Q, 1, d)
    if metric == "l2":
        return np.linalg.norm(z - q, axis=-1)
    dot = (z * q).sum(-1)  # (Q, c)
    if metric == "ip":
        return -dot
    norms = np.linalg.norm(z, axis=-1) * np.linalg.norm(q, axis=-1)
    cos = np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0)
    return np.clip(1.0 - cos, 0.0, 2.0)  # rounding can put 1 - cos a hair below 0


def rerank(
    snap: Snapshot, q: np.ndarray, cand: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Sort candidate positions (Q, c) by exact distance, ties by item_id; keep k -> (pos, dist)."""
    dist = distances(snap.z[cand], q, metric)  # (Q, c)
    order = np.lexsort((snap.ids[cand], dist), axis=-1)[:, :k]  # (Q, k)
    return np.take_along_axis(cand, order, 1), np.take_along_axis(dist, order, 1)


def exact_search(
    snap: Snapshot, q: np.ndarray, k: int, metric: str, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k of queries q (Q, d) among all rows or positions ``rows`` -> (pos, dist).

    Returns (Q, min(k, n)) row positions and float64 distances, closest first.
    """
    n = len(snap.ids) if rows is None else len(rows)
    if n == 0:
        return np.zeros((len(q), 0), np.int64), np.zeros((len(q), 0))
    c = min(n, 2 * k + 16)  # a few spare candidates, so float32 rounding cannot drop a top-k row
    sub = None if rows is None else torch.from_numpy(np.asarray(rows, np.int64))
    qt = torch.from_numpy(q)
    step = max(1, _BLOCK // n)
    parts = []
    with torch.no_grad():
        for start in range(0, len(q), step):
            s = _scores(snap, qt[start : start + step], metric, sub)  # (B, n)
            top = torch.topk(s, c, dim=1).indices  # (B, c)
            parts.append(top if sub is None else sub[top])
    cand = torch.cat(parts).numpy()  # (Q, c)
    return rerank(snap, q, cand, k, metric)
