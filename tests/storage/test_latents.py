"""Latent tables on real Delta files: round trip, exactly-once, time travel, refusals."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from deltalake import DeltaTable

from latentops.errors import InvalidInputError, NotFoundError
from latentops.storage import Lineage, Store
from latentops.storage.latents import assign_split, build_rows, latent_schema, z_matrix

LINEAGE = Lineage("vae@1", "ab" * 32, "toy", "f" * 64, "run-1")
CARD = {"kind": "latents", "d": 4, "model": "vae@1", "space": "mu"}


def _chunk(ids, d=4, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.asarray(ids, np.int64)
    z = rng.normal(size=(len(ids), d)).astype(np.float32)
    factors = {"shape": ids % 3, "scale": (ids % 7).astype(np.float64)}
    return ids, z, factors


def _write(table, ids, d=4, seed=0, card=CARD):
    ids, z, factors = _chunk(ids, d, seed)
    schema = latent_schema(factors, with_logvar=False)
    rows = build_rows(schema, ids, z, factors, LINEAGE)
    table.ensure(schema, card, "run-1")
    return table.insert(rows, "run-1"), z


def test_round_trip_and_stock_tools_read_it(store):
    table = store.latents("toy")
    inserted, z = _write(table, range(100))
    assert inserted == 100
    snap = table.read()
    np.testing.assert_array_equal(snap["item_id"].to_numpy(), np.arange(100))
    np.testing.assert_array_equal(z_matrix(snap), z)
    assert set(snap["split"].to_pylist()) == {"train", "test"}
    assert snap["model"][0].as_py() == "vae@1"
    # Plain deltalake + duckdb, no latentops, see the same vectors.
    plain = DeltaTable(table.uri).to_pyarrow_dataset()
    con = duckdb.connect()
    con.register("t", plain)
    got = con.execute("SELECT item_id, z FROM t ORDER BY item_id").fetchall()
    np.testing.assert_allclose(np.array([r[1] for r in got], np.float32), z)


def test_insert_is_exactly_once_and_does_not_bump_version(store):
    table = store.latents("toy")
    _write(table, range(50))
    version = table.version
    inserted, _ = _write(table, range(25, 75), seed=1)
    assert inserted == 25
    ids = table.item_ids()
    np.testing.assert_array_equal(ids, np.arange(75))
    again, _ = _write(table, range(75), seed=2)
    assert again == 0
    assert table.version == version + 1  # the empty merge committed nothing


def test_time_travel_reads_old_snapshot(store):
    table = store.latents("toy")
    _write(table, range(10))
    v1 = table.version
    _write(table, range(10, 30))
    assert len(table.read(version=v1)) == 10
    assert len(table.read()) == 30
    history = table.history()
    assert history[0]["version"] == table.version
    assert history[0]["run_id"] == "run-1"
    with pytest.raises(NotFoundError, match="versions 0.."):
        table.read(version=99)


def test_split_is_deterministic_and_roughly_20_percent():
    ids = np.arange(100_000)
    split = assign_split(ids)
    assert abs((split == "test").mean() - 0.2) < 0.01
    np.testing.assert_array_equal(split, assign_split(ids))


def test_dim_mismatch_refused_and_store_unchanged(store):
    table = store.latents("toy")
    _write(table, range(10))
    version = table.version
    with pytest.raises(InvalidInputError, match="d=4 but the new latents have d=8"):
        _write(table, range(10, 20), d=8, card={**CARD, "d": 8})
    with pytest.raises(InvalidInputError, match="holds latents of vae@1, not vae@2"):
        _write(table, range(10, 20), card={**CARD, "model": "vae@2"})
    assert table.version == version


def test_nan_latents_refused_before_any_write(store):
    ids, z, factors = _chunk(range(10))
    z[3, 1] = np.nan
    schema = latent_schema(factors, with_logvar=False)
    with pytest.raises(InvalidInputError, match="NaN/inf"):
        build_rows(schema, ids, z, factors, LINEAGE)
    assert not store.latents("toy").exists()


def test_bad_table_names_and_store_paths(tmp_path):
    s = Store.open(tmp_path / "s")
    for bad in ("../evil", "a/b", "", "x.y", "1abc"):
        with pytest.raises(InvalidInputError, match="not allowed"):
            s.latents(bad)
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(InvalidInputError, match="is a file"):
        Store.open(afile)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="not a latentops store"):
        Store.open(tmp_path / "other")
    with pytest.raises(NotFoundError, match="no latent table 'nope'"):
        s.latent_table("nope")


def test_read_one_split_filters_strings(store):
    table = store.latents("toy")
    _write(table, range(200))
    train = table.read(split="train")
    test = table.read(split="test", columns=["item_id"])
    assert set(train["split"].to_pylist()) == {"train"}
    assert test.column_names == ["item_id"]
    assert len(train) + len(test) == 200
