"""kNN queries over a snapshot: by vector or by item, pre-filtered, exact or approximate.

``where`` filters are applied *before* the search (pre-filter), so k rows come back whenever
at least k rows match. Exact search is ``latentops.storage.knn``; ``index`` ('ivf' or 'hnsw')
uses an approximate index built for the snapshot's table version (``latentops.storage.ann``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from latentops.errors import InvalidInputError
from latentops.storage import ann
from latentops.storage._location import Location
from latentops.storage.knn import as_queries, check_k, check_metric, exact_search
from latentops.storage.latents import factor_columns
from latentops.storage.snapshot import Snapshot


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
    root: Location,
    snap: Snapshot,
    vector: Any = None,
    *,
    item_id: int | Sequence[int] | None = None,
    k: int = 10,
    metric: str = "cosine",
    where: str | None = None,
    index: str | None = None,
) -> pa.Table:
    """k nearest rows of ``snap`` to a vector / batch (Q, d) or to items (themselves left out).

    ``where`` is a SQL condition over the table's columns applied before the search;
    ``index`` ('ivf' or 'hnsw') uses the approximate index of this version stored under
    ``root``. Returns query, rank, item_id, distance (lower is closer: 1 - cos, Euclidean,
    or -inner product) and the split / factor columns.
    """
    k, metric = check_k(k), check_metric(metric)
    if (vector is None) == (item_id is None):
        raise InvalidInputError(
            "pass exactly one of a query vector or item_id (neighbours of an item)"
        )
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
    rows = snap.filter(where) if where else None
    if index is None:
        pos, dist = exact_search(snap, q, fetch, metric, rows)
    else:
        pos, dist = ann.search(root, snap, q, fetch, metric, index, rows)
    if self_pos is not None:  # drop each item from its own neighbour list
        keep = pos != self_pos[:, None]
        width = min(k, int(keep.sum(1).min()))
        pos = np.stack([p[m][:width] for p, m in zip(pos, keep, strict=True)])
        dist = np.stack([d[m][:width] for d, m in zip(dist, keep, strict=True)])
    return _result(snap, pos, dist, query_ids)
