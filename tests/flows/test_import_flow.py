"""Bring your own embeddings: Parquet/.npy vectors become a latent table, no model needed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from latentops.errors import InvalidInputError
from latentops.flows.importing import import_flow
from latentops.storage.latents import z_matrix


def _parquet(path, n=300, d=12, nan=False):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(n, d)).astype(np.float32)
    if nan:
        emb[5, 3] = np.nan
    topic = rng.integers(0, 3, n)
    table = pa.table({"emb": pa.array(list(emb), pa.list_(pa.float32())), "topic": topic})
    pq.write_table(table, path)
    return emb, topic


def test_import_parquet_then_query_and_fit(tmp_path, prefect_harness, store):
    emb, topic = _parquet(tmp_path / "emb.parquet")
    out = import_flow(
        path=str(tmp_path / "emb.parquet"),
        table="docs",
        vector_column="emb",
        label_columns=["topic"],
        store=str(store.root),
    )
    assert out["written"] == 300 and out["model"] == "identity-docs@1"
    snap = store.latent_table("docs").read()
    np.testing.assert_array_equal(z_matrix(snap), emb)
    np.testing.assert_array_equal(snap["topic"].to_numpy(), topic)
    assert store.latent_table("docs").card["space"] == "imported"
    again = import_flow(
        path=str(tmp_path / "emb.parquet"),
        table="docs",
        vector_column="emb",
        label_columns=["topic"],
        store=str(store.root),
    )
    assert again["written"] == 0 and again["model"] == "identity-docs@1"
    counts = store.sql("SELECT topic, count(*) AS n FROM latents.docs GROUP BY 1 ORDER BY 1")
    assert counts["n"].to_pylist() == np.bincount(topic).tolist()


def test_import_with_nan_is_refused_and_nothing_written(tmp_path, prefect_harness, store):
    _parquet(tmp_path / "bad.parquet", nan=True)
    with pytest.raises(InvalidInputError, match="NaN"):
        import_flow(
            path=str(tmp_path / "bad.parquet"),
            table="bad",
            vector_column="emb",
            store=str(store.root),
        )
    assert not store.latents("bad").exists()
