"""`latentops import` as users run it: separate processes on one store, files with and without ids.

Also the up-front checks of sizes and datasets that answer before any flow starts.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from latentops.cli import main
from latentops.storage import Store


def _write(path, n, seed, **columns):
    emb = np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)
    table = {"emb": pa.array(list(emb), pa.list_(pa.float32())), **columns}
    if not columns:
        table["topic"] = np.arange(n) % 3
    pq.write_table(pa.table(table), path)
    return path


@pytest.fixture
def cli(prefect_harness, tmp_path):
    """Run ``latentops ARGS --store STORE`` in its own process against the session's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", "COLUMNS": "200"}
    root = tmp_path / "store"

    def run(*args):
        cmd = [sys.executable, "-m", "latentops", *args, "--store", str(root)]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

    run.root = root
    return run


@pytest.mark.parametrize("sizes", [(80, 50), (50, 80)])
def test_a_different_file_without_ids_is_refused_not_lost(cli, tmp_path, sizes, table_versions):
    first = _write(tmp_path / "first.parquet", sizes[0], seed=0)
    second = _write(tmp_path / "second.parquet", sizes[1], seed=1)
    done = cli("import", "--parquet", str(first), "--table", "docs2")
    assert done.returncode == 0, done.stderr
    table = Store.open(cli.root).latents("docs2")
    ids = table.item_ids()
    assert ids.tolist() == list(range(sizes[0]))
    before = table_versions(cli.root)

    refused = cli("import", "--parquet", str(second), "--table", "docs2")
    assert refused.returncode == 1
    assert "--id-column" in refused.stderr and "Traceback" not in refused.stderr
    assert table_versions(cli.root) == before
    np.testing.assert_array_equal(table.item_ids(), ids)

    if sizes[0] > sizes[1]:  # once is enough: the identical file again adds nothing
        again = cli("import", "--parquet", str(first), "--table", "docs2")
        assert again.returncode == 0, again.stderr
        assert "0 new rows" in again.stdout and table_versions(cli.root) == before


def _main(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_files_with_ids_import_and_extend_a_table(capsys, prefect_harness, tmp_path):
    # in process (the flow runs on the session's Prefect API): the ids, not the processes, matter
    root = str(tmp_path / "store")
    first = _write(tmp_path / "a.parquet", 6, seed=0, item_id=np.arange(10, 16))
    code, _, err = _main(capsys, "import", "--parquet", str(first), "-t", "docs", "-s", root)
    assert code == 0, err
    second = _write(tmp_path / "b.parquet", 3, seed=1, doc_id=[15, 40, 41])
    code, out, err = _main(
        capsys,
        "import",
        "--parquet",
        str(second),
        "-t",
        "docs",
        "--id-column",
        "doc_id",
        "-s",
        root,
    )
    assert code == 0, err
    assert "2 new rows; 1 ids were already in docs" in out
    store = Store.open(root)
    assert store.latents("docs").item_ids().tolist() == [*range(10, 16), 40, 41]
    assert store.models.list()["name"].to_pylist() == ["identity_docs"]


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["encode", "--model", "vae", "--chunk-size", "0"], 2, "--chunk-size"),
        (["encode", "--model", "vae", "--chunk-size", "-5"], 2, "--chunk-size"),
        (["encode", "--model", "vae", "--n-items", "0"], 2, "--n-items"),
        (["encode", "--model", "vae", "--batch-size", "0"], 2, "--batch-size"),
        (["train", "--dataset", "file"], 1, "use one of dsprites, digits"),
        (["train", "--dataset", "cifar"], 1, "unknown dataset 'cifar'"),
        (["train", "--n-items", "999999999"], 1, "n_items=999999999"),
    ],
)
def test_bad_sizes_and_datasets_answer_before_any_flow(
    capsys, tmp_path, argv, code, message, table_versions
):
    got, _, err = _main(capsys, *argv, "--store", str(tmp_path / "s"))
    assert got == code and message in err and "Traceback" not in err
    assert table_versions(tmp_path / "s") == {}


def test_refused_import_through_the_cli_changes_no_table(
    capsys, prefect_harness, tmp_path, table_versions
):
    root = tmp_path / "store"
    good = _write(tmp_path / "good.parquet", 5, seed=0)
    assert _main(capsys, "import", "--parquet", str(good), "-t", "docs", "-s", str(root))[0] == 0
    before = table_versions(root)
    when = pa.array(np.arange(5).astype("datetime64[s]"), pa.timestamp("s"))
    bad = _write(tmp_path / "bad.parquet", 5, seed=1, when=when)
    code, _, err = _main(capsys, "import", "--parquet", str(bad), "-t", "new", "-s", str(root))
    assert code == 1 and "label 'when' has dtype datetime64" in err
    wide = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"emb": pa.array([[0.0] * 5] * 5, pa.list_(pa.float32()))}), wide)
    code, _, err = _main(capsys, "import", "--parquet", str(wide), "-t", "docs", "-s", str(root))
    assert code == 1 and "d=4" in err
    assert table_versions(root) == before
