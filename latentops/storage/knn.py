"""Exact k-nearest-neighbour search over a latent table version held in memory.

A table version is loaded once (``load_snapshot``, cached by (table, version): Delta versions
never change) and searched with one float32 matrix product plus ``torch.topk``, the same
blocked GEMM + selection FAISS's flat index does. The best few candidates are then re-ranked
in float64 so the returned order matches a float64 brute-force reference (ties broken by
item_id). ``where`` filters are applied *before* the search (pre-filter), so k rows come back
whenever at least k rows match. Approximate indexes live in ``latentops.storage.ann``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import torch

from latentops.errors import InvalidInputError, NotFoundError
from latentops.storage import _delta, sql
from latentops.storage.latents import LatentTable, factor_columns, z_matrix

if TYPE_CHECKING:
    from latentops.storage.store import Store

METRICS = sql.METRICS
_CACHE_SIZE = 2  # table versions kept in memory (1M x 64 float32 is 256 MB each)
_BLOCK = 1 << 26  # score-matrix entries per block (256 MB of float32)
_CACHE: OrderedDict[tuple[str, int], Snapshot] = OrderedDict()


@dataclass
class Snapshot:
    """One version of a latent table in memory: rows sorted by item_id and z as (N, d)."""

    name: str
    version: int
    rows: pa.Table  # every column (z included, as Arrow), sorted by item_id
    ids: np.ndarray  # (N,) int64, sorted
    z: np.ndarray  # (N, d) float32
    _derived: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def d(self) -> int:
        """Latent dimension."""
        return int(self.z.shape[1])

    def matrix(self, metric: str) -> torch.Tensor:
        """The (N, d) matrix a metric searches: unit rows for cosine, z otherwise."""
        if metric != "cosine":
            return torch.from_numpy(self.z)
        if "unit" not in self._derived:
            norms = np.linalg.norm(self.z, axis=1, keepdims=True)  # (N, 1)
            self._derived["unit"] = torch.from_numpy(self.z / np.maximum(norms, 1e-30))
        return self._derived["unit"]

    def sqnorms(self) -> torch.Tensor:
        """|z|^2 per row (N,), for L2 via 2 z.q - |z|^2."""
        if "sq" not in self._derived:
            self._derived["sq"] = torch.from_numpy(np.einsum("nd,nd->n", self.z, self.z))
        return self._derived["sq"]

    def positions(self, item_ids: np.ndarray) -> np.ndarray:
        """Row positions of ``item_ids`` (NotFoundError naming any id not in this version)."""
        item_ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        pos = np.searchsorted(self.ids, item_ids).clip(0, max(len(self.ids) - 1, 0))
        missing = item_ids[(len(self.ids) == 0) | (self.ids[pos] != item_ids)]
        if missing.size:
            raise NotFoundError(
                f"item_id {missing[:5].tolist()} not in latent table {self.name!r} v{self.version} "
                f'({len(self.ids)} rows); list ids with: latentops sql "SELECT item_id FROM '
                f'latents.{self.name}"'
            )
        return pos


def load_snapshot(table: LatentTable, version: int | None = None) -> Snapshot:
    """Load (or reuse from the cache) ``table`` as of ``version`` (default: current)."""
    version = table.version if version is None else int(version)
    key = (table.uri, version)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    delta = _delta.open_table(table.uri, version, what=f"latent table {table.name!r}")
    rows = _delta.arrow_dataset(delta).to_table()
    ids = rows["item_id"].to_numpy()
    if (np.diff(ids) < 0).any():  # sorting copies every column: skip it when already in order
        rows = rows.take(np.argsort(ids, kind="stable"))
    if len(rows) == 0:
        z = np.zeros((0, int(table.card["d"])), np.float32)
    else:  # own, writable memory: torch refuses to wrap Arrow's read-only buffers
        z = np.require(z_matrix(rows, "z"), np.float32, ["C", "W"])
    snap = Snapshot(table.name, version, rows, rows["item_id"].to_numpy(), z)
    _CACHE[key] = snap
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return snap


def check_metric(metric: str) -> str:
    """Return ``metric`` if it is cosine, l2 or ip."""
    if metric not in METRICS:
        raise InvalidInputError(f"metric={metric!r} is not one of {METRICS}; cosine is the default")
    return metric


def check_k(k: int) -> int:
    """Return ``k`` if it is a positive int."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
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


def filter_positions(snap: Snapshot, where: str) -> np.ndarray:
    """Row positions of ``snap`` matching a read-only SQL WHERE clause (on latents.<name>)."""
    view = f"latents.{snap.name}"
    con = sql.connect({view: (snap.rows, snap.d)})
    try:
        sql.lock_down(con)
        query = sql.filter_ids_query(view, where)
        try:
            n_statements = len(con.extract_statements(query))
        except duckdb.Error as exc:
            raise InvalidInputError(f"--where {where!r} does not parse: {exc}") from None
        if n_statements != 1:
            raise InvalidInputError(
                f"--where {where!r} must be one condition, not several statements"
            )
        ids = sql.run_user_query(con, query)["item_id"].to_numpy()
    finally:
        con.close()
    return np.sort(np.searchsorted(snap.ids, ids))


def _result(
    snap: Snapshot, pos: np.ndarray, dist: np.ndarray, query_ids: Sequence[Any]
) -> pa.Table:
    """One row per hit: query, rank, item_id, distance, then split and factor columns."""
    n_q, k = pos.shape
    flat = pos.reshape(-1)
    if "meta" not in snap._derived:  # one chunk, so take() is O(k) and not O(chunks)
        meta_cols = ["split", *factor_columns(snap.rows.schema)]
        snap._derived["meta"] = snap.rows.select(meta_cols).combine_chunks()
    meta = snap._derived["meta"]
    out = {
        "query": pa.array(np.repeat(np.asarray(query_ids), k)),
        "rank": pa.array(np.tile(np.arange(1, k + 1), n_q)),
        "item_id": pa.array(snap.ids[flat]),
        "distance": pa.array(dist.reshape(-1)),
    }
    taken = meta.take(pa.array(flat))
    out.update({c: taken[c] for c in meta.column_names})
    return pa.table(out)


def search(
    store: Store,
    table: str,
    vector: Any = None,
    *,
    item_id: int | Sequence[int] | None = None,
    k: int = 10,
    metric: str = "cosine",
    where: str | None = None,
    index: str | None = None,
    version: int | None = None,
) -> pa.Table:
    """k nearest rows of ``table`` to a vector / batch (Q, d) or to items (themselves left out).

    ``where`` is a SQL condition over the table's columns applied before the search;
    ``index`` ('ivf' or 'hnsw') uses an approximate index built for this table version
    (see ``latentops.storage.ann``). Returns query, rank, item_id, distance (lower is
    closer: 1 - cos, Euclidean, or -inner product) and the split / factor columns.
    """
    k, metric = check_k(k), check_metric(metric)
    if (vector is None) == (item_id is None):
        raise InvalidInputError(
            "pass exactly one of a query vector or item_id (neighbours of an item)"
        )
    snap = load_snapshot(store.latent_table(table), version)
    self_pos = None
    if item_id is not None:
        ids = np.atleast_1d(np.asarray(item_id, dtype=np.int64))
        if ids.size == 0:
            raise InvalidInputError("item_id is empty; pass one id or a list of ids")
        self_pos = snap.positions(ids)  # (Q,)
        q, query_ids, fetch = snap.z[self_pos], ids.tolist(), k + 1
    else:
        q = as_queries(vector, snap.d, metric)
        query_ids, fetch = list(range(len(q))), k
    rows = filter_positions(snap, where) if where else None
    if index is None:
        pos, dist = exact_search(snap, q, fetch, metric, rows)
    else:
        from latentops.storage import ann  # here, not on top: ann imports this module

        pos, dist = ann.search(store.root, snap, q, fetch, metric, index, rows)
    if self_pos is not None:  # drop each item from its own neighbour list
        keep = pos != self_pos[:, None]
        width = min(k, int(keep.sum(1).min()))
        pos = np.stack([p[m][:width] for p, m in zip(pos, keep, strict=True)])
        dist = np.stack([d[m][:width] for d, m in zip(dist, keep, strict=True)])
    return _result(snap, pos, dist, query_ids)
