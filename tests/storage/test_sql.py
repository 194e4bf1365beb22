"""Store.sql: views over real Delta tables, FLOAT[d] vectors, macros vs numpy, refusals, limits."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import scipy.stats
import torch
from deltalake import write_deltalake

from latentops.directions import Direction
from latentops.errors import (
    CorruptArtifactError,
    CorruptTableWarning,
    InvalidInputError,
    NotFoundError,
)
from latentops.latent import log_prior
from latentops.storage import DirectionLineage, Lineage, sql
from latentops.storage.latents import build_rows, latent_schema
from latentops.storage.sql import QueryTimeoutError


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


# --- macros, filters, reports, limits (issue 8) ---------------------------------------------

SHAPES = np.array(["square", "ellipse", "heart"])
N, D = 300, 6


def _reference(z, q, metric):
    """Brute-force float64 distances of every row of z (N, d) to q (d,)."""
    z, q = z.astype(np.float64), np.asarray(q, np.float64)
    if metric == "l2":
        return np.linalg.norm(z - q, axis=1)
    if metric == "ip":
        return -(z @ q)
    return 1 - (z @ q) / (np.linalg.norm(z, axis=1) * np.linalg.norm(q))


def _top(dist, k, ids):
    order = np.lexsort((ids, dist))[:k]
    return ids[order].tolist()


@pytest.fixture
def toy(store):
    ids = np.arange(N, dtype=np.int64) * 7 + 5  # not 0..N-1, so ids and positions differ
    rng = np.random.default_rng(1)
    z = rng.normal(size=(N, D)).astype(np.float32)
    factors = {"shape": SHAPES[ids % 3], "scale": ids % 5}
    schema = latent_schema(factors, with_logvar=False)
    table = store.latents("toy")
    table.ensure(schema, {"kind": "latents", "d": D, "model": "vae@1"}, None)
    table.insert(build_rows(schema, ids, z, factors, Lineage("vae@1", "", "toy", "")), None)
    v1, v2 = rng.normal(size=D), rng.normal(size=D)
    store.directions.register("smile", Direction(v1, "manual"), DirectionLineage())
    store.directions.register("smile", Direction(v2, "manual"), DirectionLineage())
    unit = [(v / np.linalg.norm(v)).astype(np.float32) for v in (v1, v2)]
    return store, ids, z, factors, unit


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_knn_macro_matches_numpy(toy, metric):
    store, ids, z, _, _ = toy
    q = np.random.default_rng(2).normal(size=D).astype(np.float32)
    out = store.sql(
        "SELECT item_id, distance FROM knn('latents.toy', ?, 10, metric := ?)", [q.tolist(), metric]
    )
    ref = _reference(z, q, metric)
    assert out["item_id"].to_pylist() == _top(ref, 10, ids)
    np.testing.assert_allclose(out["distance"].to_numpy(), np.sort(ref)[:10], rtol=1e-4, atol=1e-5)


def test_knn_with_filter_returns_k_matching_rows(toy):
    store, ids, z, factors, _ = toy
    q = z[0]
    # pre-filter through a CTE, and the equivalent plain ORDER BY ... LIMIT query
    via_cte = store.sql(
        "WITH hearts AS (SELECT * FROM latents.toy WHERE shape = 'heart' AND scale < 2) "
        "SELECT item_id, shape, scale FROM knn('hearts', ?, 7, metric := 'l2')",
        [q.tolist()],
    )
    plain = store.sql(
        "SELECT item_id FROM latents.toy WHERE shape = 'heart' AND scale < 2 "
        "ORDER BY knn_distance(z, ?, 'l2'), item_id LIMIT 7",
        [q.tolist()],
    )
    mask = (factors["shape"] == "heart") & (factors["scale"] < 2)
    expected = _top(_reference(z[mask], q, "l2"), 7, ids[mask])
    assert via_cte.num_rows == 7 and set(via_cte["shape"].to_pylist()) == {"heart"}
    assert via_cte["item_id"].to_pylist() == expected == plain["item_id"].to_pylist()


def test_knn_item_and_batch_macros(toy):
    store, ids, z, _, _ = toy
    item = int(ids[10])
    out = store.sql("SELECT item_id FROM knn_item('latents.toy', ?, 5)", [item])
    ref = _reference(z, z[10], "cosine")
    ref[10] = np.inf  # the item itself is left out
    assert out["item_id"].to_pylist() == _top(ref, 5, ids)
    batch = store.sql(
        "WITH q AS (SELECT item_id AS query_id, z AS vector FROM latents.toy "
        "WHERE item_id IN (?, ?)) "
        "SELECT * FROM knn_batch('latents.toy', 'q', 4, metric := 'ip')",
        [int(ids[3]), int(ids[4])],
    )
    assert batch.column_names == ["query_id", "rank", "item_id", "distance"]
    for qi in (3, 4):
        rows = batch.filter(pc.equal(batch["query_id"], int(ids[qi])))
        assert rows["rank"].to_pylist() == [1, 2, 3, 4]
        assert rows["item_id"].to_pylist() == _top(_reference(z, z[qi], "ip"), 4, ids)
    with pytest.raises(InvalidInputError, match="item_id 1 is not in latents.toy"):
        store.sql("SELECT * FROM knn_item('latents.toy', 1, 5)")


def test_project_edit_and_direction_lookup(toy):
    store, ids, z, _, (u1, u2) = toy
    out = store.sql(
        "SELECT project(z, 'smile@1') AS p1, project(z, 'smile') AS latest, "
        "edit(z, 'smile@1', 2.5) AS e, direction('smile@2') AS v FROM latents.toy ORDER BY item_id"
    )
    np.testing.assert_allclose(out["p1"].to_numpy(), z @ u1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["latest"].to_numpy(), z @ u2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.array(out["e"].to_pylist()), z + 2.5 * u1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["v"][0].as_py(), u2, rtol=1e-6)
    with pytest.raises(InvalidInputError, match="unknown direction 'frown@1'"):
        store.sql("SELECT project(z, 'frown@1') FROM latents.toy")


def test_project_without_directions_table_says_so(filled):
    store, _ = filled
    with pytest.raises(InvalidInputError, match="unknown direction 'smile'"):
        store.sql("SELECT project(z, 'smile') FROM latents.toy")


def test_prior_macros_match_the_latent_layer(toy):
    store, _, z, _, _ = toy
    out = store.sql(
        "SELECT log_prior(z) AS lp, prior_shell_distance(z) AS sd, l2_norm(z) AS r "
        "FROM latents.toy ORDER BY item_id"
    )
    np.testing.assert_allclose(
        out["lp"].to_numpy(), log_prior(torch.from_numpy(z)).numpy(), rtol=1e-5
    )
    r = np.linalg.norm(z.astype(np.float64), axis=1)
    np.testing.assert_allclose(out["r"].to_numpy(), r, rtol=1e-5)
    np.testing.assert_allclose(
        out["sd"].to_numpy(), r - scipy.stats.chi(D).mean(), rtol=1e-5, atol=1e-5
    )


def test_latent_stats_per_factor_value(toy):
    store, _, z, factors, _ = toy
    out = store.sql("SELECT * FROM latent_stats('latents.toy', 'shape')").to_pylist()
    assert [r["value"] for r in out] == sorted(SHAPES.tolist())
    for row in out:
        zs = z[factors["shape"] == row["value"]].astype(np.float64)
        assert row["n"] == len(zs)
        np.testing.assert_allclose(row["mean"], zs.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(row["std"], zs.std(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(row["mean_norm"], np.linalg.norm(zs, axis=1).mean(), rtol=1e-5)
    with pytest.raises(InvalidInputError, match="nope"):
        store.sql("SELECT * FROM latent_stats('latents.toy', 'nope')")


def test_score_summary(toy):
    store, _, _, _, _ = toy
    with pytest.raises(InvalidInputError, match="no scores table yet"):
        store.sql("SELECT * FROM score_summary()")
    s = np.linspace(-2, 2, 5)
    value = 0.3 * s + 0.1
    rows = {
        "direction": ["smile@1"] * 5 + [None],  # the last row is model-level (MIG): left out
        "metric": ["judge_prob"] * 5 + ["mig"],
        "strength": [*s.tolist(), None],
        "value": [*value.tolist(), 0.4],
    }
    write_deltalake(store.table_uri("scores"), pa.table(rows))
    assert store.sql("SELECT count(*) AS n FROM score_summary()")["n"].to_pylist() == [1]
    row = store.sql("SELECT * FROM score_summary()").to_pylist()[0]
    assert (row["direction"], row["metric"], row["n"], row["n_strengths"]) == (
        "smile@1",
        "judge_prob",
        5,
        5,
    )
    assert math.isclose(row["slope"], 0.3) and math.isclose(row["corr"], 1.0)
    assert math.isclose(row["mean"], value.mean(), abs_tol=1e-12)


def test_unknown_metric_is_refused(toy):
    store, _, z, _, _ = toy
    with pytest.raises(InvalidInputError, match="unknown metric 'hamming'"):
        store.sql("SELECT * FROM knn('latents.toy', ?, 3, metric := 'hamming')", [z[0].tolist()])


@pytest.mark.parametrize(
    "query, match",
    [
        ("INSERT INTO directions SELECT * FROM directions", "INSERT statements are not allowed"),
        ("COPY latents.toy TO '/tmp/leak.parquet'", "COPY statements are not allowed"),
        ("EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", "EXPLAIN of non-SELECT"),
        ("DETACH memory", "not allowed"),
        ("LOAD httpfs", "not allowed"),
        ("PRAGMA enable_profiling", "not allowed"),
        ("CREATE MACRO m() AS 1", "not allowed"),
        ("RESET memory_limit", "not allowed"),
        ("SELECT * FROM glob('/etc/*')", "cannot read or write files"),
        ("SELECT * FROM read_text('/etc/passwd')", "cannot read or write files"),
        ("SELECT * FROM query('COPY (SELECT 1) TO ''/tmp/x.csv''')", "SELECT"),
    ],
)
def test_more_refusals(toy, query, match):
    store = toy[0]
    with pytest.raises(InvalidInputError, match=match):
        store.sql(query)


def test_explain_of_a_select_is_allowed(toy):
    store = toy[0]
    assert store.sql("EXPLAIN SELECT count(*) FROM latents.toy").num_rows >= 1


def test_timeout_interrupts_long_queries(toy):
    store = toy[0]
    with pytest.raises(QueryTimeoutError, match="timeout=0.2"):
        store.sql(
            "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b", timeout=0.2
        )
    assert store.sql("SELECT 1 AS x", timeout=5)["x"].to_pylist() == [1]
    with pytest.raises(InvalidInputError, match="timeout=0"):
        store.sql("SELECT 1", timeout=0)


def test_memory_limit_caps_a_query(toy):
    store = toy[0]
    with pytest.raises(InvalidInputError, match="out of memory"):
        store.sql(
            "SELECT max(len(l)) FROM (SELECT list(range) AS l FROM range(30000000))",
            memory_limit="20MB",
        )
    with pytest.raises(InvalidInputError, match="memory_limit='lots'"):
        store.sql("SELECT 1", memory_limit="lots")


def test_materialized_connection_gives_same_answers(toy):
    store, ids, z, _, _ = toy
    con = store.connect(materialize=True)
    try:
        kinds = con.sql(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'latents'"
        ).fetchall()
        assert kinds == [("toy",)]
        got = con.sql(
            "SELECT item_id FROM knn('latents.toy', ?, 5)", params=[z[0].tolist()]
        ).fetchall()
        assert [r[0] for r in got] == _top(_reference(z, z[0], "cosine"), 5, ids)
        with pytest.raises(duckdb.Error):
            con.execute("SET enable_external_access = true")  # the configuration stays locked
    finally:
        con.close()
    with pytest.raises(NotFoundError, match="cannot materialize"):
        store.connect(materialize=["nope"])


def test_codebook_usage_of_a_vq_table(store):
    from latentops.latent import codes_to_latents
    from latentops.models import build_model
    from latentops.storage import reports

    model = build_model("vqvae", num_embeddings=8, embedding_dim=4, image_size=16)
    ref = store.models.register(
        "vq", model, dataset="toy", dataset_fingerprint="f", train={}, metrics={}
    )
    D, h, w = model.token_shape
    idx = torch.from_numpy(np.random.default_rng(0).choice([0, 2, 3, 5], size=(40, h, w)))
    z = codes_to_latents(idx, model.codebook).reshape(40, -1).numpy()  # (N, D*h*w)
    ids = np.arange(40, dtype=np.int64)
    schema = latent_schema({}, with_logvar=False)
    table = store.latents("vq_toy")
    table.ensure(schema, {"kind": "latents", "d": D * h * w, "model": str(ref)}, None)
    table.insert(build_rows(schema, ids, z, {}, Lineage(str(ref), "", "toy", "")), None)
    rows, summary = reports.codebook_usage(store, "vq_toy")
    counts = np.bincount(idx.reshape(-1).numpy(), minlength=8)
    assert rows["count"].to_pylist() == counts.tolist()
    np.testing.assert_allclose(rows["fraction"].to_numpy(), counts / counts.sum())
    p = counts[counts > 0] / counts.sum()
    assert summary["used_codes"] == 4 and summary["dead_codes"] == 4
    assert math.isclose(summary["perplexity"], math.exp(-(p * np.log(p)).sum()))


def test_codebook_usage_needs_a_vq_model(store):
    from latentops.errors import UnsupportedOperationError
    from latentops.models import build_model
    from latentops.storage import reports

    model = build_model("vae", latent_dim=4, image_size=16)
    ref = store.models.register(
        "vae", model, dataset="toy", dataset_fingerprint="f", train={}, metrics={}
    )
    schema = latent_schema({}, with_logvar=False)
    table = store.latents("plain")
    table.ensure(schema, {"kind": "latents", "d": 4, "model": str(ref)}, None)
    z = np.zeros((3, 4), np.float32)
    table.insert(build_rows(schema, np.arange(3), z, {}, Lineage(str(ref), "", "toy", "")), None)
    with pytest.raises(UnsupportedOperationError, match="has no codebook"):
        reports.codebook_usage(store, "plain")


@pytest.mark.parametrize(
    "query, match",
    [
        ("SELECT * FROM knn('latents.toy', NULL, 3)", "query vector is NULL"),
        ("SELECT * FROM knn('latents.toy', [1, 0, 0, 0, 'nan'::FLOAT, 0], 3)", "NaN or inf"),
        ("SELECT * FROM knn('latents.toy', [1, NULL, 0, 0, 0, 0], 3)", "NULL, NaN or inf"),
        ("SELECT * FROM knn('latents.toy', [0, 0, 0, 0, 0, 0], 3)", "zero query vector"),
        ("SELECT * FROM knn('latents.toy', [1, 2, 3], 3, metric := 'l2')", "dimensions must be"),
        (
            "WITH q AS (SELECT 1 AS query_id, [1, 'inf'::FLOAT, 0, 0, 0, 0] AS vector) "
            "SELECT * FROM knn_batch('latents.toy', 'q', 3)",
            "NaN or inf",
        ),
        ("SELECT edit([1, 2, 3], 'smile@1', 1.0) AS e", "z has 3 values but direction 'smile@1'"),
        ("SELECT edit(z[1:3], 'smile', 1.0) FROM latents.toy", "has d=6"),
    ],
)
def test_macros_refuse_bad_query_vectors(toy, query, match):
    with pytest.raises(InvalidInputError, match=match):
        toy[0].sql(query)


def test_zero_query_is_fine_for_l2_and_ip(toy):
    store, ids, z, _, _ = toy
    out = store.sql("SELECT item_id FROM knn('latents.toy', [0, 0, 0, 0, 0, 0], 3, metric := 'l2')")
    assert out["item_id"].to_pylist() == _top(np.linalg.norm(z, axis=1), 3, ids)


def test_direction_vectors_lists_each_version_once(toy):
    out = toy[0].sql("SELECT ref, name, version, latest FROM direction_vectors ORDER BY ref")
    assert out.to_pylist() == [
        {"ref": "smile@1", "name": "smile", "version": 1, "latest": False},
        {"ref": "smile@2", "name": "smile", "version": 2, "latest": True},
    ]


@pytest.mark.parametrize("timeout", [math.inf, math.nan, -1.0, 0])
def test_timeout_must_be_finite_and_positive(toy, timeout):
    with pytest.raises(InvalidInputError, match="finite number of seconds > 0"):
        toy[0].sql("SELECT 1", timeout=timeout)


def test_streamed_result_equals_the_whole_one_and_spills_outside_the_cwd(
    toy, tmp_path, monkeypatch
):
    """Batches stream under a small memory limit; spills go to a latentops folder, removed."""
    store = toy[0]
    spill_root = tmp_path / "tmp"
    spill_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill_root))
    monkeypatch.chdir(tmp_path)
    query = "SELECT range AS i, hash(range) AS h FROM range(1500000) ORDER BY h"
    con = store.connect(memory_limit="40MB")
    try:
        with sql.stream_user_query(con, query, batch_rows=100_000) as (schema, batches):
            first = next(batches)
            spills = [p.name for p in spill_root.iterdir()]
            rest = list(batches)
    finally:
        con.close()
    streamed = pa.Table.from_batches([first, *rest], schema)
    assert first.num_rows <= 100_000 and streamed.num_rows == 1_500_000
    assert pc.all(pc.less_equal(streamed["h"][:-1], streamed["h"][1:])).as_py()  # still ordered
    assert len(spills) == 1 and spills[0].startswith("latentops-sql-")
    assert not (tmp_path / ".tmp").exists() and list(spill_root.iterdir()) == []


def test_streaming_errors_are_latentops_errors(toy):
    store = toy[0]
    con = store.connect()
    try:
        failing = (
            "SELECT CASE WHEN range = 200000 THEN error('row ' || range) END FROM range(300000)"
        )
        with pytest.raises(InvalidInputError, match="row 200000"):
            with sql.stream_user_query(con, failing, batch_rows=1000) as (_, batches):
                for _ in batches:
                    pass
        endless = "SELECT range FROM range(100000000000)"
        with pytest.raises(QueryTimeoutError, match="timeout=0.3"):
            with sql.stream_user_query(con, endless, timeout=0.3) as (_, batches):
                for _ in batches:
                    pass
    finally:
        con.close()


def _truncate_last_commit(table_dir: Path) -> None:
    last = sorted((table_dir / "_delta_log").glob("*.json"))[-1]
    text = last.read_text()
    last.write_text(text[: len(text) // 2])


def test_a_corrupt_table_is_left_out_of_the_views_with_a_warning(toy):
    store = toy[0]
    _add_table(store, "broken")
    _truncate_last_commit(Path(store.root.path) / "latents" / "broken")
    with pytest.warns(CorruptTableWarning, match="left out view latents.broken") as caught:
        out = store.sql("SELECT count(*) AS n FROM latents.toy")
    assert out["n"].to_pylist() == [N] and len(caught) == 1
    assert "Truncated record" in str(caught[0].message) and "\n" not in str(caught[0].message)
    with pytest.warns(CorruptTableWarning), pytest.raises(InvalidInputError, match="broken"):
        store.sql("SELECT * FROM latents.broken")
    with pytest.raises(CorruptArtifactError, match="cannot be read as a Delta table"):
        store.connect(materialize=["broken"])
    with pytest.warns(CorruptTableWarning, match="latents.broken"):
        con = store.connect(materialize=True)  # every readable table
    try:
        assert con.sql("SELECT count(*) FROM latents.toy").fetchall() == [(N,)]
    finally:
        con.close()


def _add_table(store, name, n=30, d=D):
    ids = np.arange(n, dtype=np.int64)
    z = np.random.default_rng(3).normal(size=(n, d)).astype(np.float32)
    schema = latent_schema({}, with_logvar=False)
    table = store.latents(name)
    table.ensure(schema, {"kind": "latents", "d": d, "model": "vae@1"}, None)
    table.insert(build_rows(schema, ids, z, {}, Lineage("vae@1", "", "toy", "")), None)
    return table


def test_a_missing_data_file_fails_only_queries_that_read_it(toy):
    store = toy[0]
    _add_table(store, "holey")
    for f in (Path(store.root.path) / "latents" / "holey").glob("*.parquet"):
        f.unlink()
    assert store.sql("SELECT count(*) AS n FROM latents.toy")["n"].to_pylist() == [N]
    with pytest.raises(CorruptArtifactError, match="is missing; run `latentops tables check`"):
        store.sql("SELECT count(*) FROM latents.holey")
    with pytest.raises(CorruptArtifactError, match="lists a data file that is missing"):
        store.latents("holey").item_ids()
