"""Version deltas of a latent table: the item ids inserted and removed between two versions.

Two versions share most data files (commits append files); only the files one version lists
and the other does not can hold a difference, so only their item_id columns are read. Item
ids are unique within a version (exactly-once writes), so a compaction's rewritten files
cancel out and the difference is exact.
"""

from __future__ import annotations

from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from latentops.storage import _delta
from latentops.storage._location import Location
from latentops.storage.latents import LatentTable

SCHEMA = pa.schema([pa.field("item_id", pa.int64()), pa.field("change", pa.string())])


def _files(table: LatentTable, version: int) -> set[str]:
    delta = _delta.open_table(table.uri, version, what=f"latent table {table.name!r}")
    return {unquote(str(p)) for p in delta.get_add_actions(flatten=True).column("path").to_pylist()}


def _ids(table: LatentTable, files: set[str]) -> np.ndarray:
    """item_ids stored in ``files`` (paths relative to the table)."""
    if not files:
        return np.zeros(0, np.int64)
    where = Location.of(table.uri)
    fs = pafs.SubTreeFileSystem(where.path, where.fs)
    with _delta.scanning(table.uri):
        data = pads.dataset(sorted(files), filesystem=fs, format="parquet")
        return data.to_table(columns=["item_id"])["item_id"].to_numpy()


def version_delta(table: LatentTable, v1: int, v2: int) -> pa.Table:
    """Rows (item_id, change): 'inserted' ids are in ``v2`` not ``v1``; 'removed' the reverse."""
    old, new = _files(table, int(v1)), _files(table, int(v2))
    before, after = _ids(table, old - new), _ids(table, new - old)
    inserted = np.setdiff1d(after, before)  # sorted, unique
    removed = np.setdiff1d(before, after)
    change = ["inserted"] * len(inserted) + ["removed"] * len(removed)
    ids = np.concatenate([inserted, removed]).astype(np.int64)
    return pa.table({"item_id": ids, "change": pa.array(change, pa.string())}, schema=SCHEMA)
