"""The dataset contract: stable integer item ids, factor columns, and streamed batches.

A Dataset never materialises all its images: ``batches`` renders or gathers one batch at a
time, and ``factors`` answers from the id alone (no rendering), so every later step can join
ground truth onto latents by ``item_id``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from latentops.errors import InvalidInputError, NotFoundError


@dataclass(frozen=True)
class Batch:
    """One streamed batch: ids, pixels (or embedding rows) and the matching factor columns."""

    item_id: np.ndarray  # (B,) int64
    x: torch.Tensor | list[str]  # (B, C, H, W) in [0, 1], (B, d) embeddings, or B texts
    factors: dict[str, np.ndarray]  # name -> (B,)


class Dataset(ABC):
    """A finite, deterministic collection of items addressed by sorted int64 ``item_id``."""

    name: str
    fingerprint: str  # hex sha256 of everything that determines the content
    n_items: int
    factor_names: tuple[str, ...]
    factor_sizes: dict[str, int]  # discrete factors only: number of distinct values
    x_shape: tuple[int, ...]  # per item: (C, H, W), (d,) or () for a text

    @abstractmethod
    def item_ids(self) -> np.ndarray:
        """All item ids of the dataset, sorted, int64."""

    @abstractmethod
    def factors(self, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        """Factor / label columns for ``item_ids`` (validated), without loading any pixels."""

    @abstractmethod
    def _load(self, item_ids: np.ndarray) -> torch.Tensor:
        """Pixels or vectors for already-validated ``item_ids``: (B, *x_shape) float32."""

    # A content digest column (in ``factors``) that encode compares with the stored rows, so
    # a file that changed since it was encoded is noticed; None for generated datasets.
    content_column: str | None = None

    def batches(self, batch_size: int, item_ids: np.ndarray | None = None) -> Iterator[Batch]:
        """Stream ``item_ids`` (default: all, sorted) in the given order, batch_size per Batch."""
        for chunk in self.id_chunks(batch_size, item_ids):
            yield Batch(item_id=chunk, x=self._load(chunk), factors=self.factors(chunk))

    def id_chunks(self, batch_size: int, item_ids: np.ndarray | None = None) -> list[np.ndarray]:
        """``item_ids`` (default: all, sorted), checked, cut into runs of ``batch_size``."""
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int | np.integer)
            or batch_size < 1
        ):
            raise InvalidInputError(
                f"batch_size={batch_size!r} must be a positive integer; pass e.g. batch_size=256"
            )
        ids = self.item_ids() if item_ids is None else self.check_item_ids(item_ids)
        return [
            ids[start : start + int(batch_size)] for start in range(0, len(ids), int(batch_size))
        ]

    def check_item_ids(self, item_ids: np.ndarray) -> np.ndarray:
        """Return ``item_ids`` as a 1-D int64 array, raising if any id is not in this dataset."""
        ids = np.asarray(item_ids)
        if ids.ndim != 1 or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)):
            raise InvalidInputError(
                f"item_ids must be a 1-D integer array, got dtype {ids.dtype} shape {ids.shape}; "
                f"pass a subset of {self.name}.item_ids()"
            )
        ids = ids.astype(np.int64, copy=False)
        known = self.item_ids()  # (N,) sorted
        pos = np.minimum(np.searchsorted(known, ids), len(known) - 1)  # datasets are non-empty
        missing = ids[known[pos] != ids]
        if missing.size:
            raise NotFoundError(
                f"{missing.size} item_id(s) are not in dataset '{self.name}' "
                f"(n_items={self.n_items}), e.g. {missing[:5].tolist()}; "
                f"pass a subset of {self.name}.item_ids()"
            )
        return ids

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, n_items={self.n_items}, "
            f"x_shape={self.x_shape}, fingerprint={self.fingerprint[:12]}...)"
        )
