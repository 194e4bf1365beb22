"""Time for the CLI to answer bad input: a whole `latentops` process, start to exit 1.

Usage: python bench/bench_bad_input.py [--quick]
Cases: an unknown dataset (train), an unknown model (report --model), a bad label
(directions fit on a real table), an unknown table (directions fit). Each must be refused up
front, before Prefect is imported or a server started. Baseline: `latentops --help` (the
process's floor: Python, typer, rich); a last line times `import torch`, which the store
layer needs, so no case can beat it. Figures are medians of a few alternating runs;
ratio = ours / baseline (how many --help's the refusal costs). Target: under 3 s each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(args: list[str], env: dict[str, str], expect: int) -> float:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "latentops", *args], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if out.returncode != expect:
        raise SystemExit(f"{args}: exit {out.returncode}, expected {expect}: {out.stderr}")
    return elapsed


def make_table(store: Path) -> None:
    """A tiny latent table ``t`` (identity model, label column ``shape``), written directly."""
    sys.path.insert(0, str(REPO))
    import numpy as np

    from latentops.storage import Store
    from latentops.storage.latents import Lineage, build_rows, latent_schema

    rng = np.random.default_rng(0)
    z = rng.normal(size=(64, 4)).astype(np.float32)
    factors = {"shape": rng.integers(0, 3, 64)}
    schema = latent_schema(factors, with_logvar=False)
    table = Store.open(store).latents("t")
    table.ensure(schema, {"d": 4, "model": "identity-t@1", "space": "imported"}, None)
    lineage = Lineage("identity-t@1", "0" * 64, "bench", "0" * 16)
    table.insert(build_rows(schema, np.arange(64), z, factors, lineage), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run per case")
    repeats = 1 if parser.parse_args().quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        make_table(store)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "LATENTOPS_STATE_DIR": tmp,  # a server started by mistake would be ours, and visible
        }
        env.pop("PREFECT_API_URL", None)
        s = ["--store", str(store)]
        cases = {
            "unknown dataset": ["train", "--dataset", "no-such-data", *s],
            "unknown model": ["report", "--model", "no-such-model@1", *s],
            "bad label": ["directions", "fit", "-t", "t", "-l", "shape=2", "-n", "x", *s],
            "unknown table": ["directions", "fit", "-t", "nope", "-l", "shape==2", "-n", "x", *s],
        }
        for name, args in cases.items():
            runs = [(run(args, env, 1), run(["--help"], env, 0)) for _ in range(repeats)]
            ours = statistics.median(r[0] for r in runs)
            base = statistics.median(r[1] for r in runs)
            print(
                f"bad input, {name}: ours {ours:.2f} s, baseline {base:.2f} s, "
                f"ratio {ours / base:.1f}",
                flush=True,
            )
        # The floor under every case: the store layer imports torch.
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import torch"], env=env, check=True)
            runs.append((time.perf_counter() - start, run(["--help"], env, 0)))
        torch_s = statistics.median(r[0] for r in runs)
        base = statistics.median(r[1] for r in runs)
        print(
            f"floor, python -c 'import torch': ours {torch_s:.2f} s, baseline {base:.2f} s, "
            f"ratio {torch_s / base:.1f}",
            flush=True,
        )
        if (Path(tmp) / "prefect-api" / "state.json").exists():
            raise SystemExit("a Prefect server was started for bad input")


if __name__ == "__main__":
    main()
