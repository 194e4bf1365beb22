"""Sampling "one factor held fixed" batches from a (latents, factors) table.

disentanglement_lib's BetaVAE and FactorVAE scores draw factor vectors from the generative
process, set one factor to a shared value, and render + encode them. On a plain table we
cannot render, so we draw *rows*: a uniformly drawn row fixes the value v of factor k, and
its partners are drawn uniformly (with replacement) from the rows whose factor k equals v.
This matches the reference distribution exactly when the table is the full factor grid (or
a uniform sample of it, as dSprites-style tables are): then the rows sharing v are the grid
slice with factor k = v, and their other factors are independent and uniform. On tables with
correlated or missing factor combinations, the other factors follow the table's conditional
distribution instead, which the ``*.sampling`` protocol entry records.
"""

from __future__ import annotations

import numpy as np


class FactorGroups:
    """Rows of a factor table grouped by the value of each factor column."""

    def __init__(self, y: np.ndarray) -> None:
        # per factor: rows sorted by value, and the sorted values (for searchsorted)
        self.n_rows, self.n_factors = y.shape
        self._y = y
        self._order = [np.argsort(y[:, k], kind="stable") for k in range(self.n_factors)]
        self._sorted = [y[order, k] for k, order in enumerate(self._order)]

    def partners(self, k: int, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each index in ``rows`` (any shape), a random row with the same value of factor k."""
        values = self._y[rows, k]
        start = np.searchsorted(self._sorted[k], values, side="left")
        count = np.searchsorted(self._sorted[k], values, side="right") - start
        offset = np.floor(rng.random(rows.shape) * count).astype(np.int64)
        return self._order[k][start + offset]

    def min_group_size(self) -> int:
        """Smallest number of rows sharing one value of one factor (1 makes pairs identical)."""
        return int(min(np.unique(s, return_counts=True)[1].min() for s in self._sorted))


def chunks(total: int, per_chunk: int) -> list[int]:
    """Split ``total`` items into chunk sizes of at most ``per_chunk`` (bounds peak memory)."""
    sizes = [per_chunk] * (total // per_chunk)
    if total % per_chunk:
        sizes.append(total % per_chunk)
    return sizes
