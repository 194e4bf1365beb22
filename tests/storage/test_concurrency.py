"""Several real processes writing the same table / catalog name at once."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np

from latentops.storage import DirectionLineage, Lineage, Store
from latentops.storage.latents import build_rows, latent_schema


def _append_items(root: str, start: int) -> int:
    ids = np.arange(start, start + 3000, dtype=np.int64)
    z = np.random.default_rng(start).normal(size=(len(ids), 8)).astype(np.float32)
    factors = {"label": ids % 2}
    schema = latent_schema(factors, with_logvar=False)
    rows = build_rows(schema, ids, z, factors, Lineage("m@1", "0" * 64, "toy", "1" * 64))
    table = Store.open(root).latents("shared")
    table.ensure(schema, {"kind": "latents", "d": 8, "model": "m@1"}, None)
    return table.insert(rows, None)


def _register_direction(root: str, seed: int) -> int:
    from latentops.directions import Direction

    v = np.random.default_rng(seed).normal(size=8)
    ref = Store.open(root).directions.register("smile", Direction(v, "manual"), DirectionLineage())
    return ref.version


def test_concurrent_latent_writers_leave_each_item_once(tmp_path):
    root = str(Store.open(tmp_path / "s").root)
    with mp.get_context("spawn").Pool(4) as pool:
        # Overlapping ranges: items 1000..3999 are written by two or more processes.
        inserted = pool.starmap(_append_items, [(root, 0), (root, 1000), (root, 0), (root, 2000)])
    ids = Store.open(root).latents("shared").item_ids()
    assert len(ids) == len(np.unique(ids)) == 5000
    assert sum(inserted) == 5000


def test_concurrent_direction_registrations_are_gapless(tmp_path):
    root = str(Store.open(tmp_path / "s").root)
    with mp.get_context("spawn").Pool(4) as pool:
        versions = pool.starmap(_register_direction, [(root, i) for i in range(6)])
    assert sorted(versions) == list(range(1, 7))
    listed = Store.open(root).directions.list()
    assert sorted(listed["version"].to_pylist()) == list(range(1, 7))
