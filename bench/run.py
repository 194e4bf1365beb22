"""Run every benchmark in bench/ and print its figure lines.

Usage: python bench/run.py [--quick] [NAME ...]
Each bench/bench_<name>.py is run as its own process (so timings do not share warm caches)
and prints lines of the form ``name: ours X unit, baseline Y unit, ratio R``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    """Run the selected benchmarks; exit non-zero if any of them failed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all), e.g. latent")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.names]
    failed = 0
    for script in scripts:
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        print(f"# {script.name}", flush=True)
        failed += subprocess.call(cmd) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
