"""latent_shift('t1', 't2') in SQL equals a numpy Procrustes alignment of the shared items."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from latentops.errors import InvalidInputError
from latentops.storage import Lineage
from latentops.storage.latents import build_rows, latent_schema

LINEAGE = Lineage("vae@1", "ab" * 32, "toy", "f" * 64, "run-1")


def _table(store, name, ids, z):
    table = store.latents(name)
    ids = np.asarray(ids, np.int64)
    factors = {"shape": ids % 3}
    schema = latent_schema(factors, with_logvar=False)
    table.ensure(schema, {"kind": "latents", "d": z.shape[1], "model": "vae@1"}, None)
    table.insert(build_rows(schema, ids, z.astype(np.float32), factors, LINEAGE), None)


def test_latent_shift_equals_numpy_procrustes_and_finds_the_moved_items(store):
    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(300, 4))  # (300, 4): items 0..299
    r = ortho_group.rvs(4, random_state=0)
    z2 = z1 @ r + 2.0 + 0.01 * rng.normal(size=z1.shape)  # model@2: rotated, shifted
    moved = np.array([7, 123, 200])
    z2[moved] += 3.0  # three items the new model places elsewhere
    _table(store, "m1", np.arange(300), z1)
    _table(store, "m2", np.arange(50, 350), np.vstack([z2[50:], rng.normal(size=(50, 4))]))

    got = store.sql("SELECT item_id, shift FROM latent_shift('m1', 'latents.m2') ORDER BY item_id")
    ids = np.arange(50, 300)  # shared items only
    assert got["item_id"].to_pylist() == ids.tolist()
    x = z1[ids].astype(np.float32).astype(np.float64)  # as stored
    y = z2[ids].astype(np.float32).astype(np.float64)
    mx, my = x.mean(0), y.mean(0)
    u, _, vt = np.linalg.svd((x - mx).T @ (y - my))
    expect = np.linalg.norm((x - mx) @ (u @ vt) + my - y, axis=1)
    np.testing.assert_allclose(got["shift"].to_numpy(), expect, rtol=1e-9, atol=1e-12)
    top = store.sql("SELECT item_id FROM latent_shift('m1', 'm2') ORDER BY shift DESC LIMIT 2")
    assert sorted(top["item_id"].to_pylist()) == [123, 200]  # item 7 is not shared
    raw = np.linalg.norm(x - y, axis=1)
    assert np.median(expect) < 0.1 * np.median(raw)  # the alignment removed the rotation


def test_latent_shift_refuses_tables_it_cannot_align(store):
    rng = np.random.default_rng(1)
    _table(store, "a", np.arange(100), rng.normal(size=(100, 4)))
    _table(store, "b", np.arange(100), rng.normal(size=(100, 3)))
    _table(store, "c", np.arange(200, 203), rng.normal(size=(3, 4)))
    with pytest.raises(InvalidInputError, match="'a' has d=4 and 'b' d=3"):
        store.sql("SELECT * FROM latent_shift('a', 'b')")
    with pytest.raises(InvalidInputError, match=r"only 0 shared item\(s\)"):
        store.sql("SELECT * FROM latent_shift('a', 'c')")
    with pytest.raises(InvalidInputError, match="no latent table 'nope'"):
        store.sql("SELECT * FROM latent_shift('a', 'nope')")
