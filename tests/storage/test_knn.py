"""Store.knn: exact search vs a numpy brute-force reference, pre-filters, ANN indexes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentops.errors import CorruptArtifactError, InvalidInputError, NotFoundError
from latentops.storage import Lineage, ann
from latentops.storage.latents import build_rows, latent_schema
from latentops.storage.snapshot import load_snapshot

SHAPES = np.array(["square", "ellipse", "heart"])


def _reference(z, q, metric):
    """Float64 brute-force distances (N,) of rows z to one query q."""
    z, q = z.astype(np.float64), np.asarray(q, np.float64)
    if metric == "l2":
        return np.linalg.norm(z - q, axis=1)
    if metric == "ip":
        return -(z @ q)
    return 1 - (z @ q) / (np.linalg.norm(z, axis=1) * np.linalg.norm(q))


def _top(dist, k, ids):
    return ids[np.lexsort((ids, dist))[:k]].tolist()


def _fill(store, n, d, seed=0, start=0, name="toy"):
    ids = np.arange(start, start + n, dtype=np.int64) * 3 + 1
    z = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    factors = {"shape": SHAPES[(ids // 3) % 3], "scale": (ids // 3) % 10}
    schema = latent_schema(factors, with_logvar=False)
    table = store.latents(name)
    table.ensure(schema, {"kind": "latents", "d": d, "model": "vae@1"}, None)
    table.insert(build_rows(schema, ids, z, factors, Lineage("vae@1", "", "toy", "")), None)
    return ids, z, factors


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    from latentops.storage import Store

    store = Store.open(tmp_path_factory.mktemp("knn") / "store")
    ids, z, factors = _fill(store, 2000, 8)
    return store, ids, z, factors


@settings(max_examples=15, deadline=None)
@given(
    metric=st.sampled_from(["cosine", "l2", "ip"]),
    k=st.integers(1, 25),
    seed=st.integers(0, 10_000),
    n_queries=st.integers(1, 4),
)
def test_exact_knn_equals_numpy_bruteforce(big, metric, k, seed, n_queries):
    store, ids, z, _ = big
    q = np.random.default_rng(seed).normal(size=(n_queries, z.shape[1])).astype(np.float32)
    out = store.knn("toy", q, k=k, metric=metric)
    assert out.num_rows == n_queries * k
    for i in range(n_queries):
        rows = out.filter(out["query"].to_numpy() == i)
        ref = _reference(z, q[i], metric)
        assert rows["rank"].to_pylist() == list(range(1, k + 1))
        assert rows["item_id"].to_pylist() == _top(ref, k, ids)
        np.testing.assert_allclose(
            rows["distance"].to_numpy(), np.sort(ref)[:k], rtol=1e-9, atol=1e-9
        )


def test_neighbours_of_items_leave_the_item_out(big):
    store, ids, z, factors = big
    out = store.knn("toy", item_id=[int(ids[5]), int(ids[77])], k=6, metric="l2")
    for pos in (5, 77):
        rows = out.filter(out["query"].to_numpy() == ids[pos])
        ref = _reference(z, z[pos], "l2")
        ref[pos] = np.inf
        assert rows["item_id"].to_pylist() == _top(ref, 6, ids)
        assert (
            rows["shape"].to_pylist()
            == factors["shape"][np.isin(ids, rows["item_id"].to_numpy())][
                np.argsort(np.argsort(rows["item_id"].to_numpy()))
            ].tolist()
        )


@pytest.mark.parametrize(
    "where, expect",
    [
        ("shape = 'heart' AND scale = 4", lambda f: (f["shape"] == "heart") & (f["scale"] == 4)),
        ("scale IN (1, 2) AND split = 'train'", None),
        ("l2_norm(z) > 3.5", None),
    ],
)
def test_prefilter_returns_k_rows_when_k_match(big, where, expect):
    store, ids, z, factors = big
    q = np.random.default_rng(3).normal(size=z.shape[1]).astype(np.float32)
    allowed = set(
        store.sql(f"SELECT item_id FROM latents.toy WHERE {where}")["item_id"].to_pylist()
    )
    mask = np.isin(ids, list(allowed))
    if expect is not None:
        assert (mask == expect(factors)).all()
    k = 15
    assert mask.sum() >= k  # a post-filter of the top 15 would return only ~mask.mean() * 15 rows
    out = store.knn("toy", q, k=k, where=where)
    assert out.num_rows == k and set(out["item_id"].to_pylist()) <= allowed
    assert out["item_id"].to_pylist() == _top(_reference(z[mask], q, "cosine"), k, ids[mask])


def test_filter_with_fewer_than_k_matches_returns_all_of_them(big):
    store, ids, z, _ = big
    out = store.knn("toy", z[0], k=10, where=f"item_id IN ({ids[3]}, {ids[9]}, {ids[11]})")
    assert sorted(out["item_id"].to_pylist()) == sorted([ids[3], ids[9], ids[11]])


@pytest.mark.parametrize(
    "where, match",
    [
        ("1 = 1); DROP VIEW directions; SELECT (1", "one condition"),
        ("1 = 1) UNION ALL SELECT item_id FROM latents.toy WHERE (1", "does not parse"),
        ("scale > 1 ORDER BY item_id LIMIT 1", "must be one condition"),
        ("scale > 1 AS keep", "must be one condition"),
        ("scale, shape", "must be one condition"),
        ("nope > 1", "nope"),
        ("shape = ", "does not parse"),
        ("item_id IN (SELECT item_id FROM read_csv('/etc/passwd'))", "cannot read or write files"),
    ],
)
def test_bad_filters_are_refused(big, where, match):
    store, _, z, _ = big
    with pytest.raises(InvalidInputError, match=match):
        store.knn("toy", z[0], where=where)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"vector": np.ones(5)}, InvalidInputError, r"shape \(5,\) but the table holds d=8"),
        ({"vector": np.full(8, np.nan)}, InvalidInputError, "NaN"),
        ({"vector": np.zeros(8)}, InvalidInputError, "zero query vector"),
        ({"vector": np.ones(8), "k": 0}, InvalidInputError, "k=0"),
        ({"vector": np.ones(8), "metric": "manhattan"}, InvalidInputError, "manhattan"),
        ({"vector": np.ones(8), "item_id": 1}, InvalidInputError, "exactly one"),
        ({}, InvalidInputError, "exactly one"),
        ({"item_id": []}, InvalidInputError, "item_id is empty"),
        ({"item_id": 2}, NotFoundError, r"item_id \[2\] not in latent table 'toy'"),
        ({"vector": np.ones(8), "index": "ivf", "metric": "ip"}, NotFoundError, "no ivf index"),
    ],
)
def test_bad_requests_are_refused(big, kwargs, exc, match):
    store = big[0]
    with pytest.raises(exc, match=match):
        store.knn("toy", **kwargs)
    with pytest.raises(NotFoundError, match="no latent table 'nope'"):
        store.knn("nope", np.ones(8))


def test_time_travel_and_snapshot_cache(store):
    ids1, z1, _ = _fill(store, 50, 4, seed=1)
    table = store.latents("toy")
    assert load_snapshot(table) is load_snapshot(table)  # one load per table version
    ids2, z2, _ = _fill(store, 50, 4, seed=2, start=50)
    q = z2[0]  # an item only version 2 holds
    now = store.knn("toy", q, k=3)
    then = store.knn("toy", q, k=3, version=1)
    assert now["item_id"][0].as_py() == ids2[0]
    assert then["item_id"].to_pylist() == _top(_reference(z1, q, "cosine"), 3, ids1)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_ann_index_recall_filters_and_staleness(store, kind):
    ids, z, factors = _fill(store, 2000, 8, seed=4)
    snap = load_snapshot(store.latents("toy"))
    info = ann.build_index(store.root, snap, kind, "cosine", target_recall=0.9)
    path = ann.index_path(store.root, "toy", 1, kind, "cosine")
    assert path.exists() and path.with_suffix(".json").exists()
    assert info.recall >= 0.9 and info.curve[-1] == [info.param, info.recall]
    assert ann.list_indexes(store.root, "toy") == [info]
    # measured recall on fresh queries, against the exact search
    q = np.random.default_rng(5).normal(size=(50, 8)).astype(np.float32)
    approx = store.knn("toy", q, k=10, index=kind)
    exact = store.knn("toy", q, k=10)
    hits = sum(
        len(
            set(approx["item_id"].to_numpy()[i * 10 : (i + 1) * 10])
            & set(exact["item_id"].to_numpy()[i * 10 : (i + 1) * 10])
        )
        for i in range(50)
    )
    assert hits / 500 >= 0.85
    # distances of what ANN returns are exact, and sorted
    d = approx["distance"].to_numpy().reshape(50, 10)
    assert (np.diff(d, axis=1) >= 0).all()
    # a broad filter goes through FAISS's ID selector, a narrow one falls back to exact: k rows
    for where in ("shape <> 'heart'", "shape = 'heart' AND scale = 1"):
        out = store.knn("toy", q[:5], k=10, index=kind, where=where)
        allowed = store.sql(f"SELECT item_id FROM latents.toy WHERE {where}")["item_id"].to_pylist()
        assert out.num_rows == 50 and set(out["item_id"].to_pylist()) <= set(allowed)
    # the table moves on: the index is stale, never used, and rebuilding prunes it
    _fill(store, 10, 8, seed=6, start=5000)
    with pytest.raises(NotFoundError, match=f"v1-{kind}-cosine.faiss is stale"):
        store.knn("toy", q[0], index=kind)
    ann.build_index(
        store.root, load_snapshot(store.latents("toy")), kind, "cosine", target_recall=0.9
    )
    assert not path.exists()
    assert [c.version for c in ann.list_indexes(store.root)] == [2]


def test_corrupt_index_and_bad_build_arguments(store):
    _fill(store, 300, 4)
    snap = load_snapshot(store.latents("toy"))
    ann.build_index(store.root, snap, "ivf", "l2")
    snap._derived.clear()  # forget the loaded index, as a new process would
    ann.index_path(store.root, "toy", 1, "ivf", "l2").write_bytes(b"not faiss")
    with pytest.raises(CorruptArtifactError, match="cannot be read"):
        store.knn("toy", np.ones(4), metric="l2", index="ivf")
    with pytest.raises(InvalidInputError, match="index kind 'annoy'"):
        ann.build_index(store.root, snap, "annoy")
    with pytest.raises(InvalidInputError, match="target_recall=1.5"):
        ann.build_index(store.root, snap, "ivf", target_recall=1.5)


def test_rows_written_out_of_id_order(store):
    ids_hi, z_hi, _ = _fill(store, 40, 4, seed=7, start=100)
    ids_lo, z_lo, _ = _fill(store, 40, 4, seed=8, start=0)
    ids, z = np.concatenate([ids_hi, ids_lo]), np.concatenate([z_hi, z_lo])
    snap = load_snapshot(store.latents("toy"))
    assert (np.diff(snap.ids) > 0).all()
    order = np.argsort(ids)
    np.testing.assert_array_equal(snap.z, z[order])
    out = store.knn("toy", z[3], k=5, metric="l2")
    assert out["item_id"].to_pylist() == _top(_reference(z, z[3], "l2"), 5, ids)
