"""examples/digits_autoencoder runs as a user runs it: their own model module and training loop,
then the latentops CLI from registration to the report (scaled down through its variables)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from latentops.storage import Store
from tests._shell import check_ok, run_line

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_digits_autoencoder_example_end_to_end(cli_env, tmp_path):
    out = tmp_path / "out"
    env = {
        **cli_env,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHON": sys.executable,
        "OUT": str(out),
        "EPOCHS": "3",
        "N_IMAGES": "120",
        "JUDGE_EPOCHS": "1",
        "EVAL_ITEMS": "64",
    }
    line = "bash examples/digits_autoencoder/run.sh"
    result = run_line(line, env, ROOT)
    check_ok(line, result)
    assert importlib.util.find_spec("conv_ae") is None  # the user's module is not latentops'

    store = Store.open(out / "store")
    card = store.models.card("digits-conv@1")
    assert card["config"]["factory"] == "conv_ae:build"
    assert card["config"]["config"] == {"latent_dim": 8, "width": 16}
    snap = store.latent_table("digits_conv").read()
    pngs = sorted(p.relative_to(out / "digits_png").as_posix() for p in out.rglob("*.png"))
    assert len(pngs) == 120 and sorted(snap["path"].to_pylist()) == pngs
    assert snap["class"].to_pylist() == [int(p.split("/")[0]) for p in snap["path"].to_pylist()]
    assert store.sql("SELECT count(*) AS n FROM edits")["n"][0].as_py() == 8 * 7
    metrics = set(
        store.sql("SELECT metric FROM scores WHERE direction = 'zero@1'")["metric"].to_pylist()
    )
    assert {"strength.spearman", "preservation.pixel_mse"} <= metrics
    report = out / "store" / "reports" / "digits-conv-v1" / "report.html"
    assert "digits-conv@1" in report.read_text()
    assert "class" in result.stdout and "0/" in result.stdout  # the closing SQL's rows
