"""A damaged store through the CLI, each command in its own process as a user runs it.

One corrupt table must not take SQL over the rest of the store down, `tables check` must name
every damaged table and a repair that runs as printed, and every failure is one line on stderr
with exit 1 (2 for usage), no traceback, and no table version changed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from deltalake import DeltaTable
from safetensors.torch import save_file

from latentops.cli import main
from latentops.directions import Direction
from latentops.errors import CorruptArtifactError
from latentops.storage import DirectionLineage, Lineage, Store
from latentops.storage.latents import build_rows, latent_schema

D = 4
# rich wraps at 80 columns when stderr is not a terminal; a wide one keeps each message on
# the one line it is, so counting lines counts messages.
ENV = {**os.environ, "COLUMNS": "1000", "OMP_NUM_THREADS": "1"}


def latentops(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script's entry point in a fresh interpreter."""
    code = "from latentops.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=ENV, timeout=300
    )


def _table(store: Store, name: str, n: int = 40) -> None:
    ids = np.arange(n, dtype=np.int64)
    z = np.random.default_rng(0).normal(size=(n, D)).astype(np.float32)
    factors = {"shape": ids % 3}
    schema = latent_schema(factors, with_logvar=False)
    table = store.latents(name)
    table.ensure(schema, {"kind": "latents", "d": D, "model": "vae@1"}, None)
    table.insert(build_rows(schema, ids, z, factors, Lineage("vae@1", "", "toy", "")), None)


@pytest.fixture
def damaged(tmp_path):
    """A store with a sound table `toy`, `broken` (truncated last commit), `holey` (a data file
    deleted) and direction smile@1."""
    store = Store.open(tmp_path / "store")
    for name in ("toy", "broken", "holey"):
        _table(store, name)
    store.directions.register("smile", Direction(np.ones(D), "manual"), DirectionLineage())
    latents = tmp_path / "store" / "latents"
    last = sorted((latents / "broken" / "_delta_log").glob("*.json"))[-1]
    last.write_text(last.read_text()[:200])
    for f in (latents / "holey").glob("*.parquet"):
        f.unlink()
    return store


def _versions(root: Path) -> dict[str, int]:
    """Version of every readable table under ``root``."""
    out = {}
    for log in root.rglob("_delta_log"):
        try:
            out[str(log.parent.relative_to(root))] = DeltaTable(str(log.parent)).version()
        except Exception:  # the damaged table has no version to compare
            out[str(log.parent.relative_to(root))] = -1
    return out


def _one_line_failure(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 3
    return done.stderr


def test_sql_tables_and_check_over_a_damaged_store(damaged, tmp_path, capsys):
    root = str(damaged.root)
    before = _versions(tmp_path / "store")
    with ThreadPoolExecutor(2) as pool:
        sql_ok, check = pool.map(
            lambda args: latentops(*args, "--store", root),
            [("sql", "SELECT count(*) AS n FROM latents.toy", "-f", "csv"), ("tables", "check")],
        )
    # SQL over the sound table works; the broken one is left out with one warning line
    assert sql_ok.returncode == 0 and sql_ok.stdout == '"n"\n40\n'
    assert sql_ok.stderr.count("\n") == 1 and "left out view latents.broken" in sql_ok.stderr
    with pytest.raises(SystemExit) as exc:
        main(["sql", "SELECT count(*) FROM latents.holey", "--store", root])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "missing" in err and "latentops tables check" in err
    _main_ok(["tables", "--store", root])
    listed = capsys.readouterr()
    assert "toy" in listed.out and "holey" not in listed.out
    assert "left out broken" in listed.err and "left out holey" in listed.err
    # the check names both tables and prints repairs that run as printed
    assert "2 of 4 tables are damaged" in _one_line_failure(check)
    repairs = [
        line.partition("repair: ")[2] for line in check.stdout.splitlines() if "repair:" in line
    ]
    assert len(repairs) == 2 and _versions(tmp_path / "store") == before
    for repair in repairs:
        argv = shlex.split(repair.rpartition(": ")[2])
        done = (
            latentops(*argv[1:])
            if argv[0] == "latentops"
            else subprocess.run(argv, capture_output=True, text=True)
        )
        assert done.returncode == 0, done.stderr
    _main_ok(["tables", "check", "--store", root])  # nothing damaged any more
    assert "DAMAGED" not in capsys.readouterr().out
    assert DeltaTable(str(tmp_path / "store/latents/broken")).version() == 0  # last commit gone
    assert damaged.latents("holey").item_ids().size == 0  # the lost file's rows are dropped


def _main_ok(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0


def _main_fails(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI in-process; return stderr of a one-line exit-1 failure."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "Traceback" not in err, err
    return " ".join(err.split())


def test_bad_markers_and_direction_files_exit_1_with_one_line(damaged, tmp_path, capsys):
    list_marker, dir_marker = tmp_path / "m1", tmp_path / "m2"
    list_marker.mkdir()
    (list_marker / "latentops.json").write_text("[1, 2]")
    (dir_marker / "latentops.json").mkdir(parents=True)
    existing = tmp_path / "existing.txt"
    existing.write_text("keep me")
    bad_card = tmp_path / "bad@1.safetensors"
    save_file({"vector": torch.ones(D)}, str(bad_card), metadata={"card": "{not json"})
    root = str(damaged.root)
    before = _versions(tmp_path / "store")
    cases = [
        (("tables", "--store", str(list_marker)), "is not a latentops store marker"),
        (("sql", "SELECT 1", "--store", str(dir_marker)), "is not a latentops store marker"),
        (("directions", "export", "smile@1", "--out", str(existing), "--store", root), "is a file"),
        (("directions", "import", str(bad_card), "--store", root), "unreadable direction card"),
        (("sql", "SELECT 1", "--timeout", "inf", "--store", root), "finite number of seconds"),
    ]
    for args, message in cases:
        assert message in _main_fails(list(args), capsys)
    assert existing.read_text() == "keep me" and _versions(tmp_path / "store") == before
    assert json.loads((tmp_path / "store" / "latentops.json").read_text()) == {"format": 1}


def test_writing_into_a_table_with_a_lost_data_file_is_refused(damaged):
    table = damaged.latents("holey")
    rows = build_rows(
        latent_schema({"shape": np.zeros(1, np.int64)}, with_logvar=False),
        np.array([5]),  # inside the lost file's id range: the merge must read it
        np.ones((1, D), np.float32),
        {"shape": np.zeros(1, np.int64)},
        Lineage("vae@1", "", "toy", ""),
    )
    with pytest.raises(CorruptArtifactError, match="lists a data file that is missing"):
        table.insert(rows, None)
    assert table.version == 1
