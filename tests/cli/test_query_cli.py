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


def test_query_results_print_literally_not_as_markup(filled):
    store = filled[0]
    query = "SELECT '[/x]' AS \"[red]a\", '[b]x[/b] [link=http://e.vil]ok[/link]' AS b"
    out = _run("sql", query, "-s", str(store.root))
    assert "[/x]" in out and "[red]a" in out
    assert "[b]x[/b] [link=http://e.vil]ok[/link]" in out and "\x1b]8;" not in out


def test_the_prompt_survives_markup_and_bad_queries(filled):
    store = filled[0]
    session = (
        "SELECT '[/x]' AS a;\nSELECT error('[b]boom[/b]');\nSELECT nope;\n"
        "SELECT 'infinity'::DATE AS d;\nSELECT '[red]still[/red] here' AS b;\n"
    )
    result = CliRunner().invoke(app, ["sql", "-s", str(store.root)], input=session)
    assert result.exit_code == 0, result.output
    assert "[/x]" in result.stdout and "[red]still[/red] here" in result.stdout
    assert "[b]boom[/b]" in result.output and "nope" in result.output
    assert "value out of range" in result.stdout  # a date Python cannot hold, shown as text
    banner = " ".join(result.stdout.partition("latentops>")[0].split())
    assert "direction_vectors, edits, scores, tags." in banner and "runs" not in banner


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["sql", "SELECT [1, 2] AS l", "-f", "csv"], 1, "CSV cannot"),
        (["sql", "SELECT ['infinity'::DATE] AS l"], 1, "Python cannot represent"),
        (["sql", "SELECT 1", "--timeout", "inf"], 1, "timeout=inf must be a finite"),
        (["sql", "SELECT 1", "--timeout", "nan"], 1, "timeout=nan must be a finite"),
        (["sql", "SELECT 1", "--timeout", "0"], 1, "timeout=0.0 must be a finite"),
        (["sql", "SELECT 1", "-f", "xml"], 2, "unknown --format"),
        (["search", "-t", "toy", "--item", "100", "--version", "0"], 1, "not in latent table"),
        (["search", "-t", "toy", "--item", "100", "--version", "7"], 1, "versions 0..1"),
        (
            ["search", "-t", "toy", "--item", "100", "-w", "1=1) UNION ALL SELECT 1 WHERE (1"],
            1,
            "does not parse",
        ),
        (["search", "-t", "toy", "--item", "100", "-w", "scale > 1 LIMIT 1"], 1, "one condition"),
    ],
)
def test_bad_query_inputs_exit_with_one_line(filled, capsys, args, code, message):
    with pytest.raises(SystemExit) as exc:
        main([*args, "--store", str(filled[0].root)])
    err = capsys.readouterr().err
    assert exc.value.code == code and message in " ".join(err.split())
    assert "Traceback" not in err


def test_infinite_dates_are_printed_not_crashed(filled):
    out = json.loads(
        _run("sql", "SELECT 'infinity'::DATE AS d, 1 AS n", "-f", "json", "-s", str(filled[0].root))
    )
    assert out[0]["n"] == 1 and "2147483647" in out[0]["d"]


def test_search_vector_file_holding_an_object_exits_1(filled, tmp_path, capsys):
    bad = tmp_path / "q.json"
    bad.write_text('{"a": 1}')
    with pytest.raises(SystemExit) as exc:
        main(["search", "-t", "toy", "--vector", str(bad), "--store", str(filled[0].root)])
    assert exc.value.code == 1 and "is not a vector file" in " ".join(
        capsys.readouterr().err.split()
    )


def test_streamed_outputs_and_no_partial_file_on_failure(filled, tmp_path):
    store = filled[0]
    q = "SELECT range AS i, range % 7 AS m FROM range(200000)"
    for fmt in ("csv", "json", "parquet"):
        target = tmp_path / f"out.{fmt}"
        _run("sql", q, "-f", fmt, "-o", str(target), "-s", str(store.root))
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(target.read_text())))
        elif fmt == "json":
            rows = json.loads(target.read_text())
        else:
            rows = pq.read_table(target).to_pylist()
        assert len(rows) == 200_000 and int(rows[-1]["i"]) == 199_999
    assert _run("sql", "SELECT 1 AS a WHERE false", "-f", "csv", "-s", str(store.root)) == '"a"\n'
    assert (
        json.loads(_run("sql", "SELECT 1 AS a WHERE false", "-f", "json", "-s", str(store.root)))
        == []
    )
    failing = (
        "SELECT CASE WHEN range = 150000 THEN error('late') ELSE range END AS i FROM range(200000)"
    )
    target = tmp_path / "failed.parquet"
    result = CliRunner().invoke(
        app, ["sql", failing, "-f", "parquet", "-o", str(target), "-s", str(store.root)]
    )
    assert result.exit_code == 1 and not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".failed")] == []


@pytest.mark.parametrize(
    "args",
    [
        ["tables"],
        ["tables", "check"],
        ["tables", "show", "toy"],
        ["sql", "SELECT 1"],
        ["search", "-t", "toy", "--item", "1"],
        ["index", "list"],
        ["directions", "list"],
        ["models", "list"],
        ["judges", "list"],
    ],
)
def test_read_commands_do_not_create_a_store(tmp_path, capsys, args):
    missing = tmp_path / "typo-store"
    with pytest.raises(SystemExit) as exc:
        main([*args, "--store", str(missing)])
    err = " ".join(capsys.readouterr().err.split())
    assert (
        exc.value.code == 1 and "no latentops store at" in err and "latentops train --store" in err
    )
    assert not missing.exists()
