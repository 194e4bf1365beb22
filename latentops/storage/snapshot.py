"""A pinned latent table version in memory and its item selection.

``Store.snapshot(table, version)`` loads one Delta version once per process (cached by
(table, version): Delta versions never change) with rows sorted by item_id and z as one
(N, d) float32 matrix. Edits, evaluation, kNN and reports all read a table through it, and
``select(where=..., sample=..., seed=...)`` is the one way to pick items from it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from latentops._validate import is_int
from latentops.errors import InvalidInputError, NotFoundError
from latentops.storage import _delta, sql
from latentops.storage.latents import LatentTable, z_matrix

_CACHE_SIZE = 2  # table versions kept in memory (1M x 64 float32 is 256 MB each)
_CACHE: OrderedDict[tuple[str, int], Snapshot] = OrderedDict()


@dataclass
class Snapshot:
    """One version of a latent table in memory: rows sorted by item_id and z as (N, d)."""

    name: str
    version: int
    rows: pa.Table  # every column (z included, as Arrow), sorted by item_id
    ids: np.ndarray  # (N,) int64, sorted
    z: np.ndarray  # (N, d) float32
    card: dict[str, Any] = field(default_factory=dict)  # the table's card: d, model, dataset
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
        found = self.ids[pos] == item_ids if len(self.ids) else np.zeros(len(item_ids), bool)
        missing = item_ids[~found]
        if missing.size:
            raise NotFoundError(
                f"item_id {missing[:5].tolist()} not in latent table {self.name!r} v{self.version} "
                f'({len(self.ids)} rows); list ids with: latentops sql "SELECT item_id FROM '
                f'latents.{self.name}"'
            )
        return pos

    def z_of(self, item_ids: np.ndarray) -> np.ndarray:
        """z (N, d) of ``item_ids`` (NotFoundError naming ids this version lacks)."""
        return self.z[self.positions(item_ids)]

    def filter(self, where: str) -> np.ndarray:
        """Row positions matching a read-only SQL WHERE clause (on latents.<name>)."""
        view = f"latents.{self.name}"
        con = sql.connect({view: (self.rows, self.d)})
        try:
            sql.lock_down(con)
            query = sql.filter_ids_query(view, sql.check_condition(con, where))
            ids = sql.run_user_query(con, query)["item_id"].to_numpy()
        finally:
            con.close()
        return np.sort(np.searchsorted(self.ids, ids))

    def select(
        self, *, where: str | None = None, sample: int | None = None, seed: int = 0
    ) -> np.ndarray:
        """item_ids matching a read-only SQL ``where`` over latents.<name>, then a seeded sample."""
        if len(self.ids) == 0:
            raise InvalidInputError(
                f"latent table {self.name!r} v{self.version} is empty; encode items first"
            )
        ids = self.ids if where is None else self.ids[self.filter(where)]
        if len(ids) == 0:
            raise InvalidInputError(
                f"--where {where!r} matches none of the {len(self.ids)} rows of {self.name!r} "
                f"v{self.version}; loosen the filter"
            )
        if sample is not None:
            if not is_int(sample, 1):
                raise InvalidInputError(f"sample={sample!r} must be a positive int (items to draw)")
            if sample < len(ids):
                ids = np.sort(np.random.default_rng(seed).choice(ids, size=sample, replace=False))
        return np.asarray(ids, np.int64)


def load_snapshot(table: LatentTable, version: int | None = None) -> Snapshot:
    """Load (or reuse from the cache) ``table`` as of ``version`` (default: current)."""
    version = table.version if version is None else int(version)
    key = (table.uri, version)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    delta = _delta.open_table(table.uri, version, what=f"latent table {table.name!r}")
    with _delta.scanning(table.uri):
        rows = _delta.arrow_dataset(delta).to_table()
    ids = rows["item_id"].to_numpy()
    if (np.diff(ids) < 0).any():  # sorting copies every column: skip it when already in order
        rows = rows.take(np.argsort(ids, kind="stable"))
    card = table.card
    if len(rows) == 0:
        z = np.zeros((0, int(card["d"])), np.float32)
    else:  # own, writable memory: torch refuses to wrap Arrow's read-only buffers
        z = np.require(z_matrix(rows, "z"), np.float32, ["C", "W"])
    snap = Snapshot(table.name, version, rows, rows["item_id"].to_numpy(), z, card)
    _CACHE[key] = snap
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return snap


def clear() -> None:
    """Forget every cached table version (``resources.clear`` calls this)."""
    _CACHE.clear()
