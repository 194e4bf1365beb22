"""A store after many small incremental encodes, before and after `latentops maintain`.

Usage: python bench/bench_maintain.py [--quick] [--commits N] [--per N]
(default 200 commits of 500 items, d=32; --quick 40 commits of 200)

The latent table grows by ``--commits`` insert-if-absent merges (the commit path of every
encode chunk), like a scheduled hourly encode of small batches. Two versions are pinned (a tag,
and a direction's lineage). Then ``maintain_store(older_than=0, grace=0)`` runs (no writer is
active here, so no grace is needed) and the same figures are taken again:
- files / data_bytes / log_bytes: data files of the table on disk, their bytes, the Delta log's
  bytes (pinned versions keep their small files, so compacted copies add bytes until unpinned)
- knn / group_by: median latency of a SQL kNN query and a GROUP BY through ``Store.sql``
ours = after maintain, baseline = before; ratio = after / before (lower is better). Pinned
versions are checked to read back identical afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from latentops.directions import Direction
from latentops.storage import DirectionLineage, Lineage, Store
from latentops.storage.latents import build_rows, latent_schema
from latentops.storage.maintain import maintain_store, usage

D = 32
KNN = "SELECT item_id FROM knn('latents.t', ?, 10)"
GROUP_BY = "SELECT shape, count(*) AS n, avg(l2_norm(z)) AS norm FROM latents.t GROUP BY shape"


def _grow(store: Store, commits: int, per: int) -> None:
    """``commits`` small merges of ``per`` new items each."""
    table = store.latents("t")
    lineage = Lineage("vae@1", "ab" * 32, "bench", "f" * 64, "bench")
    rng = np.random.default_rng(0)
    for i in range(commits):
        ids = np.arange(i * per, (i + 1) * per, dtype=np.int64)
        factors = {"shape": ids % 3}
        schema = latent_schema(factors, with_logvar=False)
        if i == 0:
            table.ensure(schema, {"kind": "latents", "d": D, "model": "vae@1"}, "bench")
        z = rng.normal(size=(per, D)).astype(np.float32)
        table.insert(build_rows(schema, ids, z, factors, lineage), "bench")


def _latency_ms(store: Store, query: str, params: list | None, repeats: int) -> float:
    """Median wall time of ``query`` (a fresh connection each time, as each CLI call has)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        store.sql(query, params)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _figures(store: Store, query: list[float], repeats: int) -> dict[str, float]:
    used = usage(store.root / "latents" / "t")
    return {
        "files": used.files,
        "data_bytes": used.bytes,
        "log_bytes": used.log_bytes,
        "knn": _latency_ms(store, KNN, [query], repeats),
        "group_by": _latency_ms(store, GROUP_BY, None, repeats),
    }


def main() -> None:
    """Grow, measure, maintain, measure again, check pins, print figure lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--commits", type=int)
    parser.add_argument("--per", type=int)
    args = parser.parse_args()
    commits = args.commits or (40 if args.quick else 200)
    per = args.per or (200 if args.quick else 500)
    repeats = 3 if args.quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "store")
        start = time.perf_counter()
        _grow(store, commits, per)
        grow_s = time.perf_counter() - start
        table = store.latents("t")
        tagged, fitted = commits // 4, commits // 2
        store.tags.tag(store, "t", tagged, "quarter", "bench")
        lineage = DirectionLineage(latent_table="t", latent_table_version=fitted, model="vae@1")
        store.directions.register(
            "axis", Direction(np.eye(D, dtype=np.float32)[0], "manual"), lineage
        )
        pinned = {v: table.read(version=v) for v in (tagged, fitted)}
        query = np.random.default_rng(1).normal(size=D).astype(np.float32).tolist()

        before = _figures(store, query, repeats)
        start = time.perf_counter()
        (report,) = maintain_store(store, table="t", older_than=timedelta(0), grace=timedelta(0))
        maintain_s = time.perf_counter() - start
        after = _figures(store, query, repeats)

        for version, rows in pinned.items():
            if not table.read(version=version).equals(rows):
                raise SystemExit(f"pinned version {version} changed after maintain")
        print(
            f"# {commits} commits x {per} items (d={D}) in {grow_s:.1f} s; maintain "
            f"{maintain_s:.1f} s: compacted {report.compacted_removed} files into "
            f"{report.compacted_added}, vacuumed {len(report.vacuum_files)} files and "
            f"{len(report.log_files)} log entries, kept "
            f"versions {report.retained_versions} (pinned {report.pinned_versions}: identical)"
        )
    units = {"files": "", "data_bytes": " B", "log_bytes": " B", "knn": " ms", "group_by": " ms"}
    for key, unit in units.items():
        ours, base = after[key], before[key]
        fmt = "{:.0f}" if key.endswith(("files", "bytes")) else "{:.1f}"
        print(
            f"maintain_{key}: ours {fmt.format(ours)}{unit}, baseline {fmt.format(base)}{unit}, "
            f"ratio {ours / base:.3f}"
        )


if __name__ == "__main__":
    main()
