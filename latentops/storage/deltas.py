"""Version deltas of a latent table (item ids inserted / removed between two versions), and
the per-item shift between two latent tables of the same items (model@1 vs model@2).

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

from latentops.errors import InvalidInputError
from latentops.storage import _delta
from latentops.storage._location import Location
from latentops.storage.latents import LatentTable
from latentops.storage.snapshot import Snapshot

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


SHIFT_SCHEMA = pa.schema([pa.field("item_id", pa.int64()), pa.field("shift", pa.float64())])


def latent_shift(a: Snapshot, b: Snapshot) -> pa.Table:
    """Rows (item_id, shift) for items in both: |map(z_a) - z_b| after a Procrustes map a -> b.

    The map (rotation + shift, fitted on every shared item) removes what two trainings of one
    model may differ by (axes rotated, flipped or permuted); what is left is how far each item
    moved. Distances are in b's latent units.
    """
    from latentops.directions.align import procrustes_distances  # scipy: only when asked

    if a.d != b.d:
        raise InvalidInputError(
            f"latent_shift aligns by a rotation, so both tables need one d, but {a.name!r} has "
            f"d={a.d} and {b.name!r} d={b.d}; compare tables of the same latent size"
        )
    shared, ia, ib = np.intersect1d(a.ids, b.ids, return_indices=True)
    shift = procrustes_distances(a.z[ia], b.z[ib])  # (n,)
    return pa.table({"item_id": shared.astype(np.int64), "shift": shift}, schema=SHIFT_SCHEMA)
