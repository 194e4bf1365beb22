"""Top-10 kNN over 1M x 64 latents: our SQL path and Store.knn vs FAISS IndexFlatIP, and IVF.

Usage: python bench/bench_knn.py [--quick]   (--quick: 100k rows)

Data: latent-like vectors, 10 ground-truth factors pushed through a random tanh layer to
64 dims plus noise (what an encoder of a 10-factor dataset such as dSprites produces), scaled
to unit norm so inner product = cosine and FAISS IndexFlatIP searches the very same vectors.
Queries are fresh draws from the same process (new items, not rows of the table).

Figures (medians of alternating runs of ours and the baseline, so machine load hits both
alike; warm: the table is already in memory on both sides, and each timed call follows an
untimed one of the same side):
- knn_sql_*: the `knn` / `knn_batch` SQL macros on a connection with the table materialized.
- knn_exact_*: Store.knn, exact (blocked float32 GEMM + top-k, float64 re-rank).
- knn_ivf_*: Store.knn(index="ivf"), nprobe tuned at build time to recall@10 >= 0.95.
ratio = ours / baseline for "vs_faiss_flat" lines (lower is better), exact / ours for
"speedup" lines (higher is better), ours / exact for recall.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from latentops.storage import Lineage, Store, ann  # noqa: E402
from latentops.storage.latents import build_rows, latent_schema  # noqa: E402
from latentops.storage.snapshot import load_snapshot  # noqa: E402

D, K = 64, 10


def latent_like(n: int, seed: int) -> np.ndarray:
    """(n, 64) unit vectors from 10 factors through a fixed random tanh layer plus noise."""
    weights = np.random.default_rng(1234)
    w1 = weights.normal(size=(10, 128))
    w2 = weights.normal(size=(128, D)) / np.sqrt(128)
    rng = np.random.default_rng(seed)
    f = rng.uniform(-1, 1, size=(n, 10))
    z = (np.tanh(f @ w1) @ w2 + 0.1 * rng.normal(size=(n, D))).astype(np.float32)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def paired_ms(
    ours: Callable[[], object], base: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median ms of ours and baseline, alternating so load changes hit both alike.

    Each timed call follows an untimed call of the same side, so it does not pay for the
    caches the other side just evicted (a 1M x 64 scan flushes them).
    """
    t_ours, t_base = [], []
    for _ in range(repeats):
        for fn, times in ((ours, t_ours), (base, t_base)):
            fn()
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(t_ours), 1000 * statistics.median(t_base)


def line(name: str, ours: float, base: float, ratio: float, unit: str = "ms") -> None:
    u = f" {unit}" if unit else ""
    print(f"{name}: ours {ours:.4g}{u}, baseline {base:.4g}{u}, ratio {ratio:.3g}", flush=True)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean recall@K of (Q, K) id lists."""
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100k rows instead of 1M")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    reps1, reps100 = (3, 1) if args.quick else (7, 3)
    z = latent_like(n, seed=0)
    queries = latent_like(100, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "store")
        start = time.perf_counter()
        ids = np.arange(n, dtype=np.int64)
        schema = latent_schema({"shape": ids % 3}, with_logvar=False)
        table = store.latents("bench")
        table.ensure(schema, {"kind": "latents", "d": D, "model": "bench@1"}, None)
        table.insert(
            build_rows(schema, ids, z, {"shape": ids % 3}, Lineage("bench@1", "", "b", "")), None
        )
        print(f"# {n} x {D} latents written in {time.perf_counter() - start:.1f} s", flush=True)

        # baseline: FAISS exact flat inner-product index over the same vectors
        flat = faiss.IndexFlatIP(D)
        flat.add(z)
        faiss_1q = lambda: flat.search(queries[:1], K)  # noqa: E731
        faiss_100q = lambda: flat.search(queries, K)  # noqa: E731
        _, truth = flat.search(queries, K)  # row positions = item ids here

        # ours, SQL: the knn macros on a connection with the table loaded once
        start = time.perf_counter()
        con = store.connect(materialize=["bench"])
        print(f"# materialized into DuckDB in {time.perf_counter() - start:.1f} s", flush=True)
        one = "SELECT item_id FROM knn('latents.bench', ?, 10, metric := 'ip')"
        batch = (
            "WITH q AS (SELECT generate_subscripts($1, 1) - 1 AS query_id, unnest($1) AS vector) "
            "SELECT query_id, item_id FROM knn_batch('latents.bench', 'q', 10, metric := 'ip')"
        )
        q1, qs = [queries[0].tolist()], [queries.tolist()]
        sql_1, faiss_1 = paired_ms(lambda: con.execute(one, q1).fetchall(), faiss_1q, reps1)
        sql_100, faiss_100 = paired_ms(
            lambda: con.execute(batch, qs).fetchall(), faiss_100q, reps100
        )
        got = np.array([r[1] for r in con.execute(batch, qs).fetchall()]).reshape(100, K)
        print(
            f"# SQL batch recall vs FAISS flat (ties aside): {recall(got, truth):.4f}", flush=True
        )
        con.close()
        line("knn_sql_1q_vs_faiss_flat (ours/baseline)", sql_1, faiss_1, sql_1 / faiss_1)
        line("knn_sql_100q_vs_faiss_flat (ours/baseline)", sql_100, faiss_100, sql_100 / faiss_100)

        # ours, Python: Store.knn exact (the table version is loaded once, then cached)
        start = time.perf_counter()
        snap = load_snapshot(table)
        print(f"# snapshot loaded in {time.perf_counter() - start:.1f} s", flush=True)
        exact_1q = lambda: store.knn("bench", queries[0], k=K, metric="ip")  # noqa: E731
        exact_100q = lambda: store.knn("bench", queries, k=K, metric="ip")  # noqa: E731
        exact_1, faiss_1 = paired_ms(exact_1q, faiss_1q, reps1)
        exact_100, faiss_100 = paired_ms(exact_100q, faiss_100q, reps100)
        exact = store.knn("bench", queries, k=K, metric="ip")["item_id"].to_numpy().reshape(100, K)
        print(f"# exact recall vs FAISS flat (ties aside): {recall(exact, truth):.4f}", flush=True)
        line("knn_exact_1q_vs_faiss_flat (ours/baseline)", exact_1, faiss_1, exact_1 / faiss_1)
        line(
            "knn_exact_100q_vs_faiss_flat (ours/baseline)",
            exact_100,
            faiss_100,
            exact_100 / faiss_100,
        )

        # ours, approximate: IVF built for this table version, tuned to recall@10 >= 0.95
        info = ann.build_index(store.root, snap, "ivf", "ip", target_recall=0.95)
        print(
            f"# ivf: nlist {info.build['nlist']}, nprobe {info.param}, "
            f"build {info.build_seconds:.1f} s, "
            f"recall@10 at build {info.recall:.3f} on {info.recall_queries} items",
            flush=True,
        )
        ivf_1q = lambda: store.knn("bench", queries[0], k=K, metric="ip", index="ivf")  # noqa: E731
        ivf_100q = lambda: store.knn("bench", queries, k=K, metric="ip", index="ivf")  # noqa: E731
        ivf_1, exact_1 = paired_ms(ivf_1q, exact_1q, reps1)
        ivf_100, exact_100 = paired_ms(ivf_100q, exact_100q, reps100)
        approx = store.knn("bench", queries, k=K, metric="ip", index="ivf")["item_id"].to_numpy()
        line("knn_ivf_1q_speedup_vs_exact (exact/ours)", ivf_1, exact_1, exact_1 / ivf_1)
        line("knn_ivf_100q_speedup_vs_exact (exact/ours)", ivf_100, exact_100, exact_100 / ivf_100)
        rec = recall(approx.reshape(100, K), exact)
        line("knn_ivf_recall@10_vs_exact (ours/exact)", rec, 1.0, rec, unit="")


if __name__ == "__main__":
    main()
