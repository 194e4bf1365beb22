"""Direction fitting on N x 64 float32 latents: ours vs calling numpy / scikit-learn directly.

Usage: python bench/bench_directions.py [--quick]      (N = 1,000,000; --quick: 100,000)
"Ours" is the whole fit_direction call: input checks, the stratified train/held-out split,
the fit on the train split and the held-out diagnostics (accuracy, AUC, Cohen's d / R²).
The baseline is the bare fit on the same arrays: numpy class means, sklearn
LogisticRegression / LinearSVC on as many rows as ours fits (max_train caps both), sklearn
Ridge and PCA on all rows, numpy eigh for SeFa. ratio = ours / baseline (overhead; < 1 is
faster). Each figure is the median of a few runs; every pair is checked to agree (cosine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.svm import LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from latentops.directions import fit_direction, fit_directions, sefa_directions  # noqa: E402
from latentops.directions.methods import METHODS  # noqa: E402


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    return v / np.linalg.norm(v)


def report(name: str, ours: Callable, baseline: Callable, repeats: int, min_cos: float) -> None:
    # one call each checks that both find the same direction and doubles as the warm-up
    cos = abs(float(unit(ours()) @ unit(baseline())))
    if cos < min_cos:
        raise SystemExit(f"{name}: ours and baseline disagree (|cos| = {cos:.4f} < {min_cos})")
    t_ours = median_seconds(ours, repeats)
    t_base = median_seconds(baseline, repeats)
    print(
        f"{name}: ours {t_ours * 1e3:.0f} ms, baseline {t_base * 1e3:.0f} ms, "
        f"ratio {t_ours / t_base:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k latents, for a smoke run")
    args = parser.parse_args()
    n, d, k = (100_000, 64, 8) if args.quick else (1_000_000, 64, 8)
    repeats = 3
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, d), dtype=np.float32)  # (N, d)
    z[:, :k] *= np.linspace(3.0, 1.5, k, dtype=np.float32)  # k clear principal axes
    w = unit(rng.standard_normal(d))
    score = z @ w.astype(np.float32) + 0.5 * rng.standard_normal(n, dtype=np.float32)  # (N,)
    t = score > 0.3  # an unbalanced binary label
    y = score.astype(np.float64)
    weight = rng.standard_normal((1024, d))  # a first decoder layer (out, d)
    print(f"# {n} x {d} float32 latents; ratio = ours / baseline (overhead)", flush=True)
    tag = f"{n // 1000}k x {d}"

    report(
        f"mean_diff {tag} vs numpy class means (ratio ours/baseline)",
        lambda: fit_direction(z, t, "mean_diff").vector,
        lambda: z[t].mean(axis=0) - z[~t].mean(axis=0),
        repeats,
        0.999,
    )
    # ours trains on 80% of the rows, capped at max_train; the baseline fits as many rows
    n_fit = min(int(round(0.8 * n)), METHODS["logistic"].defaults["max_train"])
    report(
        f"logistic {tag} vs sklearn LogisticRegression on {n_fit // 1000}k rows "
        "(ratio ours/baseline)",
        lambda: fit_direction(z, t, "logistic").vector,
        lambda: LogisticRegression(max_iter=1000).fit(z[:n_fit], t[:n_fit]).coef_,
        repeats,
        0.999,
    )
    if n_fit < int(round(0.8 * n)):  # the cap binds: compare with sklearn on every row
        report(
            f"logistic {tag} (max_train={n_fit}) vs sklearn LogisticRegression on all rows "
            "(ratio ours/baseline)",
            lambda: fit_direction(z, t, "logistic").vector,
            lambda: LogisticRegression(max_iter=1000).fit(z, t).coef_,
            1,
            0.999,
        )
    report(
        f"linear_svm {tag} vs sklearn LinearSVC on {n_fit // 1000}k rows (ratio ours/baseline)",
        lambda: fit_direction(z, t, "linear_svm").vector,
        lambda: LinearSVC(dual="auto").fit(z[:n_fit], t[:n_fit]).coef_,
        repeats,
        0.999,
    )
    report(
        f"ridge {tag} vs sklearn Ridge (ratio ours/baseline)",
        lambda: fit_direction(z, y, "ridge").vector,
        lambda: Ridge(alpha=1.0).fit(z, y).coef_,
        repeats,
        0.999,
    )
    report(
        f"pca {tag} top {k} vs sklearn PCA (ratio ours/baseline)",
        lambda: fit_directions(z, method="pca", n_components=k)[0].vector,
        lambda: PCA(n_components=k).fit(z).components_[0],
        repeats,
        0.999,
    )

    def numpy_sefa() -> np.ndarray:
        a = weight / np.linalg.norm(weight, axis=1, keepdims=True)
        return np.linalg.eigh(a.T @ a)[1][:, -1]

    report(
        f"sefa 1024x{d} weight top {k} vs numpy eigh (ratio ours/baseline)",
        lambda: sefa_directions(weight, k)[0].vector,
        numpy_sefa,
        repeats,
        0.999,
    )


if __name__ == "__main__":
    main()
