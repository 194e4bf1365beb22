"""Store.sql: views over real Delta tables, FLOAT[d] vectors, read-only refusals."""

from __future__ import annotations

import numpy as np
import pytest

from latentops.errors import InvalidInputError
from latentops.storage import Lineage
from latentops.storage.latents import build_rows, latent_schema


@pytest.fixture
def filled(store):
    ids = np.arange(200, dtype=np.int64)
    z = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    factors = {"shape": ids % 3}
    schema = latent_schema(factors, with_logvar=False)
    table = store.latents("toy")
    table.ensure(schema, {"kind": "latents", "d": 5, "model": "vae@1"}, None)
    table.insert(build_rows(schema, ids, z, factors, Lineage("vae@1", "", "toy", "")), None)
    return store, z


def test_latent_view_has_fixed_size_vectors(filled):
    store, z = filled
    q = np.ones(5, np.float32)
    out = store.sql(
        "SELECT item_id, array_inner_product(z, ?::FLOAT[5]) AS ip FROM latents.toy "
        "ORDER BY ip DESC LIMIT 3",
        [q.tolist()],
    ).to_pylist()
    ref = np.argsort(-(z @ q))[:3]
    assert [r["item_id"] for r in out] == ref.tolist()


def test_group_by_factor(filled):
    store, _ = filled
    out = store.sql("SELECT shape, count(*) AS n FROM latents.toy GROUP BY shape ORDER BY shape")
    assert out["n"].to_pylist() == [67, 67, 66]


@pytest.mark.parametrize(
    "query, match",
    [
        ("CREATE TABLE x AS SELECT 1", "not allowed"),
        ("COPY (SELECT 1) TO '/tmp/x.csv'", "not allowed"),
        ("ATTACH '/tmp/x.db' AS x", "not allowed"),
        ("INSTALL httpfs", "not allowed"),
        ("SET memory_limit='1GB'", "not allowed"),
        ("SELECT * FROM read_csv('/etc/passwd')", "SQL failed"),
        ("SELECT 1; DROP VIEW directions", "not allowed"),
        ("SELEC 1", "does not parse"),
    ],
)
def test_user_sql_is_read_only_and_contained(filled, query, match):
    store, _ = filled
    with pytest.raises(InvalidInputError, match=match):
        store.sql(query)
