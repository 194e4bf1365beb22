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
    assert out["written"] == 300 and out["model"] == "identity_docs@1"
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
    assert again["written"] == 0 and again["model"] == "identity_docs@1"
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


def _vectors(n, d=4, seed=0):
    emb = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return pa.array(list(emb), pa.list_(pa.float32())), emb


def test_item_id_column_keys_the_rows_and_another_file_extends(tmp_path, prefect_harness, store):
    vectors, emb = _vectors(6)
    pq.write_table(pa.table({"item_id": np.arange(100, 106), "emb": vectors}), tmp_path / "a.pq")
    out = import_flow(path=str(tmp_path / "a.pq"), table="docs", store=str(store.root))
    assert out["written"] == 6 and out["model"] == "identity_docs@1"
    snap = store.latent_table("docs").read()
    assert snap["item_id"].to_pylist() == list(range(100, 106))
    np.testing.assert_array_equal(z_matrix(snap), emb)
    # another file, ids in a column of its own name, two of them already imported
    more, more_emb = _vectors(4, seed=1)
    ids = np.array([104, 105, 200, 201])
    pq.write_table(pa.table({"doc_id": ids, "emb": more}), tmp_path / "b.pq")
    out = import_flow(
        path=str(tmp_path / "b.pq"), table="docs", id_column="doc_id", store=str(store.root)
    )
    assert (out["n_items"], out["planned"], out["written"]) == (4, 2, 2)
    snap = store.latent_table("docs").read()
    assert snap["item_id"].to_pylist() == [*range(100, 106), 200, 201]
    np.testing.assert_array_equal(z_matrix(snap)[-2:], more_emb[2:])
    np.testing.assert_array_equal(z_matrix(snap)[4:6], emb[4:])  # the first file's rows stay


@pytest.fixture(scope="module")
def imported(tmp_path_factory, prefect_harness):
    """A store whose table ``docs`` holds one positional 6-row file, d=4."""
    from latentops.storage import Store

    base = tmp_path_factory.mktemp("imported")
    vectors, _ = _vectors(6)
    pq.write_table(pa.table({"emb": vectors, "topic": np.arange(6) % 2}), base / "first.pq")
    store = Store.open(base / "store")
    import_flow(path=str(base / "first.pq"), table="docs", store=str(store.root))
    return base


def _bad_files():
    vectors, _ = _vectors(6)
    big = pa.array(np.arange(6, dtype=np.uint64) + np.uint64(2**63), pa.uint64())
    when = pa.array(np.arange(6).astype("datetime64[s]"), pa.timestamp("s"))
    return {
        "uint64": ("fresh", {"emb": vectors, "topic": big}, "values above"),
        "timestamp": ("fresh", {"emb": vectors, "topic": when}, "dtype datetime64"),
        "binary": ("fresh", {"emb": vectors, "topic": pa.array([b"x"] * 6)}, "holds bytes"),
        "struct": ("fresh", {"emb": vectors, "topic": pa.array([{"a": 1}] * 6)}, "holds dict"),
        "case": ("fresh", {"emb": vectors, "topic": [1] * 6, "Topic": [2] * 6}, "only in case"),
        "reserved": ("fresh", {"emb": vectors, "split": ["a"] * 6}, "table's own column"),
        "wrong d": ("docs", {"emb": _vectors(6, d=5)[0], "topic": [0] * 6}, "d=4"),
        "other file": ("docs", {"emb": _vectors(3, seed=2)[0], "topic": [0] * 3}, "--id-column"),
        "string ids": ("docs", {"item_id": list("abcdef"), "emb": vectors}, "holds strings"),
        "null ids": ("docs", {"item_id": [1, 2, None, 4, 5, 6], "emb": vectors}, "null values"),
    }


@pytest.mark.parametrize("case", sorted(_bad_files()))
def test_refused_import_registers_nothing(case, imported, tmp_path, table_versions):
    import shutil

    from latentops.storage import Store

    table, columns, match = _bad_files()[case]
    store = Store.open(shutil.copytree(imported / "store", tmp_path / "store"))
    pq.write_table(pa.table(columns), tmp_path / "bad.pq")
    before = table_versions(store.root.path)
    assert "models" in before and "latents/docs" in before
    with pytest.raises(InvalidInputError, match=match):
        import_flow(path=str(tmp_path / "bad.pq"), table=table, store=str(store.root))
    assert table_versions(store.root.path) == before
    assert store.models.list()["name"].to_pylist() == ["identity_docs"]


def test_import_reads_the_file_once_however_many_chunks(
    tmp_path, prefect_harness, store, monkeypatch
):
    from latentops.data import files

    reads = []
    real = files._load_parquet
    monkeypatch.setattr(files, "_load_parquet", lambda *a: reads.append(a[0]) or real(*a))
    emb, _ = _parquet(tmp_path / "emb.parquet")
    out = import_flow(
        path=str(tmp_path / "emb.parquet"),
        table="docs",
        vector_column="emb",
        store=str(store.root),
        chunk_size=50,  # six chunks
    )
    assert out["written"] == 300 and len(reads) == 1
    np.testing.assert_array_equal(z_matrix(store.latent_table("docs").read()), emb)
    assert files._last == {}  # released when the flow ended
    _parquet(tmp_path / "emb.parquet", n=310)  # the file changes: it is read again
    again = import_flow(
        path=str(tmp_path / "emb.parquet"),
        table="docs2",
        vector_column="emb",
        store=str(store.root),
    )
    assert again["written"] == 310 and len(reads) == 2
