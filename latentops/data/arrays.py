"""User data held in arrays: images (N, C, H, W) / (N, H, W) or embeddings (N, d), plus labels.

The array may be a read-only ``np.memmap`` (``load_array_file`` opens .npy that way): checks,
the fingerprint and batches all walk it in row chunks, so a large file is never copied whole.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from latentops.data._fingerprint import arrays_fingerprint
from latentops.data.base import Dataset
from latentops.errors import InvalidInputError

_CHECK_ROWS_BYTES = 1 << 24  # validate 16 MiB of rows at a time


def _check_x(x: np.ndarray, name: str) -> np.ndarray:
    """Validate shape, dtype and values of a user array; return it as (N, d) or (N, C, H, W)."""
    if not isinstance(x, np.ndarray):
        raise InvalidInputError(
            f"{name}: x must be a numpy array, got {type(x).__name__}; wrap it with np.asarray(x)"
        )
    if x.ndim == 3:
        x = x[:, None]  # (N, H, W) grayscale -> (N, 1, H, W)
    if x.ndim not in (2, 4) or x.shape[0] == 0 or 0 in x.shape:
        raise InvalidInputError(
            f"{name}: x has shape {x.shape}; expected (N, d) embeddings or (N, C, H, W) / "
            "(N, H, W) images with N >= 1 and no empty dimension"
        )
    if x.dtype.kind not in "fiub":
        raise InvalidInputError(
            f"{name}: x has dtype {x.dtype}; expected float or integer values "
            "(decode strings or objects into numbers first)"
        )
    images = x.ndim == 4
    rows = max(1, _CHECK_ROWS_BYTES // max(1, x[:1].nbytes))
    for start in range(0, len(x), rows):
        chunk = np.asarray(x[start : start + rows])
        if x.dtype.kind == "f" and not np.isfinite(chunk).all():
            bad = int(start + np.flatnonzero(~np.isfinite(chunk).reshape(len(chunk), -1).all(1))[0])
            raise InvalidInputError(
                f"{name}: x contains NaN/inf (first in row {bad}); drop or repair those rows"
            )
        if images and x.dtype.kind == "f" and (chunk.min() < 0 or chunk.max() > 1):
            raise InvalidInputError(
                f"{name}: float images must lie in [0, 1], found values in "
                f"[{chunk.min():.3g}, {chunk.max():.3g}]; divide by 255 (or rescale) first"
            )
        if images and x.dtype.kind in "iu" and (chunk.min() < 0 or chunk.max() > 255):
            raise InvalidInputError(
                f"{name}: integer images must be 0..255, found [{chunk.min()}, {chunk.max()}]; "
                "convert them to uint8 or to floats in [0, 1]"
            )
    return x


def _check_labels(
    labels: Mapping[str, np.ndarray] | None, n: int, name: str
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, value in (labels or {}).items():
        col = np.asarray(value)
        if key == "item_id" or not isinstance(key, str) or not key:
            raise InvalidInputError(
                f"{name}: label name {key!r} is reserved or empty; rename the label column"
            )
        if col.shape != (n,):
            raise InvalidInputError(
                f"{name}: label '{key}' has shape {col.shape} but x has {n} rows; "
                f"pass one value per row, shape ({n},)"
            )
        out[key] = _label_values(col, key, name)
    return out


def _label_values(col: np.ndarray, key: str, name: str) -> np.ndarray:
    """A label column as numbers, booleans or strings (what a latent table column can hold)."""
    fix = (
        "labels must be numbers, booleans or strings: cast the column (e.g. to int64 or string) "
        "or leave it out of the label columns"
    )
    if col.dtype.kind in "bifU":
        return col
    if col.dtype.kind == "u":
        if col.size and col.max() > np.iinfo(np.int64).max:
            raise InvalidInputError(
                f"{name}: label {key!r} has values above {np.iinfo(np.int64).max}; {fix}"
            )
        return col.astype(np.int64)
    if col.dtype.kind == "O":
        bad = next((v for v in col if v is not None and not isinstance(v, str)), None)
        if bad is None:
            return col
        what = "booleans and nulls" if isinstance(bad, bool) else f"{type(bad).__name__} values"
        raise InvalidInputError(f"{name}: label {key!r} holds {what}; {fix}")
    raise InvalidInputError(f"{name}: label {key!r} has dtype {col.dtype}; {fix}")


class ArrayDataset(Dataset):
    """Images or precomputed embeddings from arrays, with optional label columns and item ids."""

    def __init__(
        self,
        x: np.ndarray,
        labels: Mapping[str, np.ndarray] | None = None,
        name: str = "array",
        *,
        item_ids: np.ndarray | None = None,
    ) -> None:
        self._x = _check_x(x, name)
        n = len(self._x)
        self._labels = _check_labels(labels, n, name)
        if item_ids is None:
            ids = np.arange(n, dtype=np.int64)
        else:
            ids = np.asarray(item_ids)
            if ids.shape != (n,) or ids.dtype.kind not in "iu":
                raise InvalidInputError(
                    f"{name}: item_ids has dtype {ids.dtype} shape {ids.shape}; expected {n} "
                    "integers, one per row of x"
                )
            ids = ids.astype(np.int64)
        self._order = np.argsort(ids, kind="stable")  # (N,) row of each sorted id
        self._sorted = ids[self._order]
        if n > 1 and (np.diff(self._sorted) == 0).any():
            dup = self._sorted[1:][np.diff(self._sorted) == 0][:5].tolist()
            raise InvalidInputError(f"{name}: item_ids must be unique, e.g. {dup} repeat")
        self._identity_rows = item_ids is None
        self.name = name
        self.n_items = n
        self.x_shape = tuple(int(s) for s in self._x.shape[1:])
        self.factor_names = tuple(self._labels)
        # integer/bool/string labels are discrete (size = distinct values); floats are continuous
        self.factor_sizes = {
            # set(), not np.unique: string labels read from Parquet may hold None
            k: len(set(v.tolist()))
            for k, v in self._labels.items()
            if v.dtype.kind in "iubUSO"
        }
        self.fingerprint = arrays_fingerprint(
            "array",
            {"x": self._x, "item_id": ids, **{f"label:{k}": v for k, v in self._labels.items()}},
        )

    @property
    def is_images(self) -> bool:
        """True for (C, H, W) items, False for embedding vectors."""
        return len(self.x_shape) == 3

    @property
    def positional_ids(self) -> bool:
        """True when item ids are row positions 0..N-1 (no ``item_ids`` were given)."""
        return self._identity_rows

    def item_ids(self) -> np.ndarray:
        """Sorted item ids (0..N-1 unless ``item_ids`` were given)."""
        return self._sorted

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        return ids if self._identity_rows else self._order[np.searchsorted(self._sorted, ids)]

    def factors(self, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        """Label columns of ``item_ids``."""
        rows = self._rows(self.check_item_ids(item_ids))
        return {k: v[rows] for k, v in self._labels.items()}

    def _load(self, item_ids: np.ndarray) -> torch.Tensor:
        x = np.asarray(self._x[self._rows(item_ids)])  # (B, *x_shape), reads only these rows
        if self.is_images and x.dtype.kind in "iu":  # 0..255 pixels
            return torch.from_numpy(x.astype(np.float32) / np.float32(255.0))
        return torch.from_numpy(x.astype(np.float32, copy=False))
