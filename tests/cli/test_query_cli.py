"""`latentops tables | sql | search | index` through the real Typer app and console entry point."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from latentops.cli import app, main
from latentops.storage import Lineage, Store
from latentops.storage.latents import build_rows, latent_schema

SHAPES = np.array(["square", "ellipse", "heart"])
N, D = 600, 6


@pytest.fixture
def filled(tmp_path):
    store = Store.open(tmp_path / "store")
    ids = np.arange(N, dtype=np.int64) + 100
    z = np.random.default_rng(0).normal(size=(N, D)).astype(np.float32)
    factors = {"shape": SHAPES[ids % 3], "scale": ids % 4}
    schema = latent_schema(factors, with_logvar=False)
    table = store.latents("toy")
    table.ensure(schema, {"kind": "latents", "d": D, "model": "vae@1"}, None)
    table.insert(build_rows(schema, ids, z, factors, Lineage("vae@1", "", "toy", "")), None)
    return store, ids, z


def _run(*args, input=None):
    result = CliRunner().invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_tables_lists_the_latent_tables(filled):
    store = filled[0]
    out = _run("tables", "--store", str(store.root))
    assert "toy" in out and "vae@1" in out


def test_sql_formats(filled, tmp_path):
    store = filled[0]
    q = "SELECT shape, count(*) AS n FROM latents.toy GROUP BY shape ORDER BY shape"
    rows = list(csv.DictReader(io.StringIO(_run("sql", q, "-f", "csv", "-s", str(store.root)))))
    assert [(r["shape"], int(r["n"])) for r in rows] == [
        ("ellipse", 200),
        ("heart", 200),
        ("square", 200),
    ]
    assert json.loads(_run("sql", q, "--format", "json", "-s", str(store.root)))[1] == {
        "shape": "heart",
        "n": 200,
    }
    target = tmp_path / "out.parquet"
    _run("sql", q, "--format", "parquet", "--out", str(target), "-s", str(store.root))
    assert pq.read_table(target)["n"].to_pylist() == [200, 200, 200]
    assert "heart" in _run("sql", q, "-s", str(store.root))  # rich table by default


@pytest.mark.parametrize(
    "query, message",
    [
        ("COPY (SELECT 1) TO '/tmp/leak.csv'", "COPY statements are not allowed"),
        ("ATTACH '/tmp/x.db' AS x", "ATTACH statements are not allowed"),
        ("INSTALL httpfs", "not allowed"),
        ("SET threads = 1", "SET statements are not allowed"),
        ("SELECT * FROM read_csv('/etc/passwd')", "cannot read or write files"),
    ],
)
def test_refused_sql_exits_1_with_a_clear_message(filled, capsys, query, message):
    with pytest.raises(SystemExit) as exc:
        main(["sql", query, "--store", str(filled[0].root)])
    assert exc.value.code == 1
    assert message in " ".join(capsys.readouterr().err.split())


def test_sql_timeout_exits_1(filled, capsys):
    query = "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b"
    with pytest.raises(SystemExit) as exc:
        main(["sql", query, "--timeout", "0.2", "--store", str(filled[0].root)])
    assert exc.value.code == 1 and "timeout" in capsys.readouterr().err


def test_interactive_prompt(filled):
    store = filled[0]
    session = (
        "SELECT 40 + 2 AS answer;\nSELECT nope;\n.tables\n"
        "SELECT count(*) AS n\n  FROM latents.toy;\n.quit\n"
    )
    result = CliRunner().invoke(
        app, ["sql", "--materialize", "-f", "csv", "-s", str(store.root)], input=session
    )
    assert result.exit_code == 0, result.output
    assert '"answer"\n42' in result.stdout
    assert "nope" in result.output  # the error is reported and the session goes on
    assert "direction_vectors" in result.stdout and "toy" in result.stdout
    assert f'"n"\n{N}' in result.stdout
    # EOF ends the session, running a statement left without ';'
    out = _run("sql", "-f", "json", "-s", str(store.root), input="SELECT 7 AS seven")
    assert '"seven": 7' in out


def test_search_by_item_and_vector(filled, tmp_path):
    store, ids, z = filled
    got = json.loads(
        _run(
            "search",
            "-t",
            "toy",
            "--item",
            str(ids[4]),
            "-k",
            "5",
            "-f",
            "json",
            "-s",
            str(store.root),
        )
    )
    ref = store.knn("toy", item_id=int(ids[4]), k=5)
    assert [r["item_id"] for r in got] == ref["item_id"].to_pylist()
    assert all(r["query"] == ids[4] for r in got) and [r["rank"] for r in got] == [1, 2, 3, 4, 5]
    npy = tmp_path / "q.npy"
    np.save(npy, z[:2] + 0.01)
    txt = tmp_path / "q.txt"
    txt.write_text(",".join(str(x) for x in z[0] + 0.01))
    where = "shape = 'heart' AND scale > 1"
    for path in (npy, txt):
        got = json.loads(
            _run(
                "search",
                "-t",
                "toy",
                "--vector",
                str(path),
                "-k",
                "7",
                "--where",
                where,
                "-m",
                "l2",
                "-f",
                "json",
                "-s",
                str(store.root),
            )
        )
        assert len(got) == (14 if path == npy else 7)
        assert all(r["shape"] == "heart" and r["scale"] > 1 for r in got)
        ref = store.knn("toy", z[0] + 0.01, k=7, where=where, metric="l2")
        assert [r["item_id"] for r in got[:7]] == ref["item_id"].to_pylist()


@pytest.mark.parametrize(
    "args, code",
    [
        (["sql", "--format", "parquet"], 2),  # the prompt prints, it writes no files
        (["search", "-t", "toy"], 2),  # neither --item nor --vector
        (["search", "-t", "toy", "--item", "100", "--vector", "missing.npy"], 2),
        (["search", "-t", "toy", "--item", "99"], 1),  # unknown item id
        (["search", "-t", "nope", "--item", "100"], 1),
        (["search", "-t", "toy", "--item", "100", "--index", "ivf"], 1),  # not built yet
    ],
)
def test_usage_and_lookup_errors_exit_codes(filled, capsys, args, code):
    with pytest.raises(SystemExit) as exc:
        main([*args, "--store", str(filled[0].root)])
    assert exc.value.code == code


def test_bad_vector_file_exits_1(filled, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("one two three")
    with pytest.raises(SystemExit) as exc:
        main(["search", "-t", "toy", "--vector", str(bad), "--store", str(filled[0].root)])
    assert exc.value.code == 1 and "is not a vector file" in " ".join(
        capsys.readouterr().err.split()
    )


def test_index_build_list_and_approximate_search(filled):
    store, ids, _ = filled
    built = _run(
        "index",
        "build",
        "-t",
        "toy",
        "--kind",
        "ivf",
        "--target-recall",
        "0.9",
        "-s",
        str(store.root),
    )
    assert "recall@10" in built
    assert "ivf" in _run("index", "list", "-s", str(store.root))
    result = CliRunner().invoke(
        app,
        [
            "search",
            "-t",
            "toy",
            "--item",
            str(ids[0]),
            "--index",
            "ivf",
            "-f",
            "json",
            "-s",
            str(store.root),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 10 and "recall@10" in result.stderr


def test_tables_stats(filled):
    store, _, z = filled
    rows = json.loads(
        _run("tables", "stats", "toy", "--by", "scale", "-f", "json", "-s", str(store.root))
    )
    assert [r["value"] for r in rows] == [0, 1, 2, 3] and sum(r["n"] for r in rows) == N
    ids = np.arange(N) + 100
    np.testing.assert_allclose(rows[0]["mean"], z[ids % 4 == 0].mean(0), rtol=1e-5, atol=1e-6)


def test_codebook_of_a_table_without_a_registered_vq_model_exits_1(filled, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tables", "codebook", "toy", "--store", str(filled[0].root)])
    assert exc.value.code == 1 and "vae" in capsys.readouterr().err
