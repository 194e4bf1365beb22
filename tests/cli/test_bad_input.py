"""Bad input through the real CLI, in separate processes: one clear line, exit 1 (2 for usage),
no traceback, and every Delta table of the store (models and catalog included) unchanged.

Table versions are read straight from the ``_delta_log`` folders, not through latentops.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

BIN = Path(sys.executable).parent / "latentops"
OPTS = {"image_size": 32, "n_items": 300}


def _versions(root: Path) -> dict[str, int]:
    """Every Delta table under ``root`` -> its newest commit number, from the log files."""
    out = {}
    for log in root.rglob("_delta_log"):
        commits = [int(p.stem) for p in log.glob("*.json") if p.stem.isdigit()]
        out[str(log.parent.relative_to(root))] = max(commits, default=-1)
    return out


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory, cli_env):
    """A store with a seeded vae@1, its latent table, a direction and an imported table."""
    from latentops.models import build_model
    from latentops.storage import Store

    base = tmp_path_factory.mktemp("bad-input")
    root = base / "store"
    env = {**cli_env, "LATENTOPS_STORE": str(root), "COLUMNS": "80"}
    torch.manual_seed(0)
    store = Store.open(root)
    store.models.register(
        "vae",
        build_model("vae", latent_dim=4, image_size=32, in_channels=1),
        dataset="dsprites",
        dataset_fingerprint="seed0",
        train={"dataset_options": OPTS},
        metrics={},
    )
    rng = np.random.default_rng(0)
    emb = pd.DataFrame(
        {
            "item_id": np.arange(80),
            "emb": list(rng.normal(size=(80, 8)).astype("float32")),
            "topic": rng.integers(0, 3, 80),
        }
    )
    emb.to_parquet(base / "emb.parquet")
    for args in (
        ["encode", "--model", "vae@1"],
        [
            "directions",
            "fit",
            "--table",
            "dsprites_vae_v1",
            "--label",
            "shape==2",
            "--name",
            "heart",
        ],
        [
            "import",
            "--parquet",
            str(base / "emb.parquet"),
            "--vector-column",
            "emb",
            "--label-columns",
            "topic",
            "--table",
            "docs",
        ],
    ):
        result = _cli(args, env, base)
        assert result.returncode == 0, result.stdout + result.stderr
    return base, root, env


def _files(base: Path) -> dict[str, Path]:
    """Input files for the cases: each one wrong in one way."""
    rng = np.random.default_rng(1)
    files = {}

    def parquet(name: str, **columns) -> None:
        files[name] = base / f"{name}.parquet"
        pd.DataFrame(columns).to_parquet(files[name])

    n = 50
    emb = list(rng.normal(size=(n, 8)).astype("float32"))
    parquet("wrong_d", item_id=np.arange(n), emb=list(rng.normal(size=(n, 5)).astype("float32")))
    parquet("uint64", item_id=np.arange(n), emb=emb, topic=np.arange(n, dtype=np.uint64) + 2**63)
    parquet("two_topics", item_id=np.arange(n), emb=emb, topic=np.arange(n), Topic=np.arange(n))
    parquet("no_ids", emb=emb)
    parquet(
        "timestamp",
        item_id=np.arange(n),
        emb=emb,
        when=pd.date_range("2026-01-01", periods=n, freq="h"),
    )
    parquet("nan_emb", item_id=np.arange(n), emb=[np.full(8, np.nan, dtype="float32")] * n)
    files["card"] = base / "bad-card.json"
    files["card"].write_text("{not json")
    files["existing"] = base / "existing.safetensors"
    files["existing"].write_bytes(b"keep me")
    files["marker_store"] = base / "marker-store"
    files["marker_store"].mkdir(exist_ok=True)
    (files["marker_store"] / "latentops.json").write_text("[1, 2]")
    return files


T = "dsprites_vae_v1"


def _cases(f: dict[str, Path], base: Path) -> list[tuple[str, list[str]]]:
    d = ["directions"]
    missing = str(base / "no-such-store")
    return [
        ("unknown dataset", ["train", "--dataset", "no-such-data"]),
        ("train on file", ["train", "--dataset", "file"]),
        ("unknown model", ["encode", "--model", "nosuch@1"]),
        ("unknown model version", ["encode", "--model", "vae@9"]),
        ("negative chunk", ["encode", "--model", "vae@1", "--chunk-size", "-5"]),
        ("zero chunk", ["encode", "--model", "vae@1", "--chunk-size", "0"]),
        ("bad table name", ["encode", "--model", "vae@1", "--table", "a/b"]),
        (
            "fit unknown table",
            [*d, "fit", "--table", "nosuch", "--label", "shape==2", "--name", "x"],
        ),
        ("fit unknown label", [*d, "fit", "--table", T, "--label", "colour==2", "--name", "x"]),
        (
            "fit unknown method",
            [*d, "fit", "--table", T, "--label", "shape==2", "--method", "magic", "--name", "x"],
        ),
        ("fit one class", [*d, "fit", "--table", T, "--label", "shape==99", "--name", "x"]),
        ("diff unknown version", [*d, "diff", "heart@1", "heart@99"]),
        ("export over a file", [*d, "export", "heart@1", "--out", str(f["existing"])]),
        ("import bad card", [*d, "import", str(f["card"])]),
        ("edit unknown direction", ["edit", "--table", T, "--direction", "nosuch"]),
        ("edit without direction", ["edit", "--table", T]),
        ("edit nan strength", ["edit", "--table", T, "--direction", "heart", "--strengths=nan,1"]),
        ("interpolate no pairs", ["interpolate", "--table", T, "--n-pairs", "0"]),
        ("traverse negative sample", ["traverse", "--table", T, "--sample", "-1"]),
        (
            "evaluate unknown judge",
            ["evaluate", "--table", T, "--direction", "heart", "--judge", "nosuch"],
        ),
        ("metrics unknown table", ["metrics", "--table", "nosuch"]),
        ("report unknown model", ["report", "--model", "nosuch@1"]),
        ("models show unknown", ["models", "show", "nosuch@1"]),
        ("search version 0", ["search", "--table", T, "--item", "1", "--version", "0"]),
        ("search vector object", ["search", "--table", T, "--vector", '{"a": 1}']),
        (
            "search where union",
            [
                "search",
                "--table",
                T,
                "--item",
                "1",
                "--where",
                "1=1) UNION ALL SELECT * FROM latents.docs WHERE (1=1",
            ],
        ),
        ("sql unknown table", ["sql", "SELECT * FROM latents.nosuch"]),
        ("sql csv list", ["sql", "SELECT [1.0, 2.0] AS v", "--format", "csv"]),
        ("sql write", ["sql", "CREATE TABLE x AS SELECT 1"]),
        ("sql infinite timeout", ["sql", "SELECT 1", "--timeout", "inf"]),
        ("knn null query", ["sql", f"SELECT * FROM knn('latents.{T}', NULL, 5)"]),
        ("knn zero query", ["sql", f"SELECT * FROM knn('latents.{T}', [0.0, 0.0, 0.0, 0.0], 5)"]),
        ("edit macro wrong length", ["sql", "SELECT edit([1.0, 2.0], 'heart', 1.0) AS z"]),
        (
            "import missing file",
            [
                "import",
                "--parquet",
                str(base / "nope.parquet"),
                "--vector-column",
                "emb",
                "--table",
                "docs",
            ],
        ),
        (
            "import wrong d",
            ["import", "--parquet", str(f["wrong_d"]), "--vector-column", "emb", "--table", "docs"],
        ),
        (
            "import uint64 label",
            [
                "import",
                "--parquet",
                str(f["uint64"]),
                "--vector-column",
                "emb",
                "--label-columns",
                "topic",
                "--table",
                "docs",
            ],
        ),
        (
            "import topic and Topic",
            [
                "import",
                "--parquet",
                str(f["two_topics"]),
                "--vector-column",
                "emb",
                "--label-columns",
                "topic,Topic",
                "--table",
                "docs",
            ],
        ),
        (
            "import timestamp label",
            [
                "import",
                "--parquet",
                str(f["timestamp"]),
                "--vector-column",
                "emb",
                "--label-columns",
                "when",
                "--table",
                "docs",
            ],
        ),
        (
            "import no ids into a table",
            ["import", "--parquet", str(f["no_ids"]), "--vector-column", "emb", "--table", "docs"],
        ),
        (
            "import nan vectors",
            ["import", "--parquet", str(f["nan_emb"]), "--vector-column", "emb", "--table", "docs"],
        ),
        ("read a missing store", ["tables", "--store", missing]),
        ("store marker not an object", ["tables", "--store", str(f["marker_store"])]),
        ("judges train unknown dataset", ["judges", "train", "--dataset", "nosuch"]),
    ]


def test_bad_input_answers_in_one_line_and_changes_nothing(cli_store):
    base, root, env = cli_store
    files = _files(base)
    cases = _cases(files, base)
    assert len(cases) >= 30
    before = _versions(root)
    assert {"models", f"latents/{T}", "latents/docs", "directions"} <= set(before)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: _cli(case[1], env, base), cases))

    failures = []
    for (what, args), result in zip(cases, results, strict=True):
        err = result.stderr.strip().splitlines()
        if result.returncode not in (1, 2):
            failures.append(f"{what}: exit {result.returncode} for {args}\n{result.stderr}")
        elif "Traceback" in result.stderr or not 1 <= len(err) <= 3:
            failures.append(f"{what}: {len(err)} lines on stderr\n{result.stderr[-2000:]}")
    assert not failures, "\n\n".join(failures)
    assert _versions(root) == before
    assert files["existing"].read_bytes() == b"keep me"
    assert not (base / "no-such-store").exists()
    assert json.loads((files["marker_store"] / "latentops.json").read_text()) == [1, 2]
