"""`latentops tables tag|untag|pins`, storage figures in `tables`, and `latentops maintain`."""

from __future__ import annotations

import os

import numpy as np
import pytest

from latentops.cli import main
from latentops.storage import Lineage, Store
from latentops.storage.latents import build_rows, latent_schema


@pytest.fixture
def grown(tmp_path):
    """A store whose latent table ``toy`` got 6 small commits (versions 1..6)."""
    store = Store.open(tmp_path / "store")
    table = store.latents("toy")
    factors = {"shape": np.arange(10) % 3}
    schema = latent_schema(factors, with_logvar=False)
    table.ensure(schema, {"kind": "latents", "d": 4, "model": "vae@1"}, None)
    for i in range(6):
        ids = np.arange(i * 10, i * 10 + 10)
        z = np.random.default_rng(i).normal(size=(10, 4)).astype(np.float32)
        rows = build_rows(schema, ids, z, factors, Lineage("vae@1", "", "toy", ""))
        table.insert(rows, None)
    return store


def _ok(*args: str) -> None:
    """Run the console entry point; success ends in SystemExit(0)."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == 0


def _out(capsys) -> str:
    return " ".join(capsys.readouterr().out.split())


def test_tag_pins_tables_and_maintain(grown, capsys):
    root = str(grown.root)
    _ok("tables", "tag", "toy", "2", "baseline", "--store", root)
    assert "tagged toy version 2 as 'baseline'" in _out(capsys)
    _ok("tables", "pins", "toy", "--store", root)
    assert "2 │ tag │ baseline" in _out(capsys)
    _ok("tables", "--store", root)
    listing = _out(capsys)
    assert "│ 6 │ 6 │" in listing  # version 6, 6 data files
    _ok("maintain", "--dry-run", "--older-than", "0", "--store", root)
    assert "latents/toy: would remove 0 files (0 B) and 0 log entries (0 B)" in _out(capsys)
    _ok("maintain", "--older-than", "0", "--table", "toy", "--store", root)
    done = _out(capsys)
    # fresh versions are inside the 10-minute grace for writers: compacted, nothing removed yet
    assert "latents/toy: compacted 6 small files into 1, checkpoint at v7, removed 0 files" in done
    assert "(1 pinned)" in done
    _ok("tables", "untag", "toy", "baseline", "--store", root)
    assert "removed tag 'baseline' of toy version 2" in _out(capsys)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tables", "tag", "toy", "9", "x"], "has versions 0..6, not 9"),
        (["tables", "tag", "nope", "1", "x"], "no latent table 'nope'; tables: toy"),
        (["tables", "tag", "toy", "1", "a b"], "tag name 'a b' is not allowed"),
        (["tables", "untag", "toy", "x"], "has no tag 'x'; its tags: none"),
        (["maintain", "--older-than", "7 days"], "--older-than '7 days' is not an age"),
        (["maintain", "--table", "nope"], "no table 'nope'"),
    ],
)
def test_bad_input_exits_1_with_one_line_and_changes_nothing(
    grown, capsys, table_versions, args, message
):
    before = table_versions(grown.root), sorted(os.listdir(grown.latents("toy").uri))
    with pytest.raises(SystemExit) as exc:
        main([*args, "--store", str(grown.root)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 1 and len(err.splitlines()) == 1 and message in err
    assert (table_versions(grown.root), sorted(os.listdir(grown.latents("toy").uri))) == before


def test_maintain_in_its_own_process(grown, cli):
    """As users run it: a separate process, one line per table, exit 0; bad age exits 1."""
    done = cli("maintain", "--older-than", "0", "--store", str(grown.root))
    assert done.returncode == 0, done.stderr
    assert "latents/toy: compacted 6 small files into 1" in " ".join(done.stdout.split())
    bad = cli("maintain", "--older-than", "soon", "--store", str(grown.root))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "is not an age" in bad.stderr
