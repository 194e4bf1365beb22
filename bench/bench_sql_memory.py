"""Peak memory of a large `latentops sql` result written to Parquet under --memory-limit 100MB.

Usage: python bench/bench_sql_memory.py [--quick] [--rows N]   (default 20M rows, --quick 2M)

Each side runs in its own process and reports its peak RSS minus the peak RSS of the same
process kind answering ``SELECT 1`` (the imports: torch, pyarrow, DuckDB), so the figures are
what the result itself costs:
- ours: ``latentops sql QUERY --memory-limit 100MB -f parquet -o FILE``, which streams DuckDB's
  record batches into a Parquet writer.
- baseline: the same query materialized whole (``Store.sql``, an Arrow table) and then written
  with ``pyarrow.parquet.write_table``, which is what the command did before streaming.
ratio = ours / baseline (lower is better); both files hold the same rows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_OURS = """
import resource, sys
from latentops.cli import main
try:
    main(["sql", sys.argv[1], "--memory-limit", "100MB", "-f", "parquet", "-o", sys.argv[2],
          "--store", sys.argv[3]])
except SystemExit as exc:
    assert not exc.code, exc.code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
_CREATE = [
    sys.executable,
    "-c",
    "import sys; from latentops.storage import Store; Store.open(sys.argv[1])",
]
_BASELINE = """
import resource, sys
import pyarrow.parquet as pq
from latentops.storage import Store
table = Store.open(sys.argv[3]).sql(sys.argv[1], memory_limit="100MB")
pq.write_table(table, sys.argv[2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_mb(code: str, query: str, out: Path, store: Path) -> float:
    """Peak RSS (MB) of a child process running ``code`` on ``query``."""
    done = subprocess.run(
        [sys.executable, "-c", code, query, str(out), str(store)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return int(done.stdout.split()[-1]) / 1024  # ru_maxrss is in KB on Linux


def main() -> None:
    """Print the figure line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    rows = args.rows or (2_000_000 if args.quick else 20_000_000)
    query = f"SELECT range AS item_id, 'item-' || range AS name FROM range({rows})"
    with tempfile.TemporaryDirectory() as tmp:
        store, out = Path(tmp) / "store", Path(tmp) / "out.parquet"
        subprocess.run(_CREATE + [str(store)], check=True, cwd=ROOT)
        idle_ours = _peak_mb(_OURS, "SELECT 1 AS x", out, store)
        ours = _peak_mb(_OURS, query, out, store) - idle_ours
        idle_base = _peak_mb(_BASELINE, "SELECT 1 AS x", out, store)
        base = _peak_mb(_BASELINE, query, out, store) - idle_base
    print(
        f"sql_result_memory_{rows // 1_000_000}M_rows: ours {ours:.0f} MB, "
        f"baseline {base:.0f} MB, ratio {ours / base:.3f}"
    )


if __name__ == "__main__":
    main()
