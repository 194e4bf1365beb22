"""Edit metrics: pure functions over judge-model outputs and features (the scorecard's maths).

Conventions: ``strengths`` is an (S,) grid of edit strengths; ``responses`` (S, N) holds a
judge's prediction for each of N items edited at each strength. Inputs may be NumPy arrays
or torch tensors; maths runs in float64 NumPy and results are Python floats / arrays.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import scipy.linalg
import scipy.stats
from sklearn.isotonic import IsotonicRegression

from latentops.errors import InvalidInputError, NotFoundError
from latentops.evaluation._checks import ArrayLike, as_float


def _strength_grid(strengths: ArrayLike, responses: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate strengths (S,) with >= 2 distinct values and responses (S,) or (S, N)."""
    s = as_float(strengths, "strengths")
    r = as_float(responses, "responses")
    if s.ndim != 1 or s.shape[0] < 2 or np.unique(s).shape[0] != s.shape[0]:
        raise InvalidInputError(
            f"strengths must be a 1-D grid of S >= 2 distinct values, got {s.tolist()!r}; "
            "pass e.g. np.linspace(-3, 3, 7)"
        )
    if r.ndim == 1:
        r = r[:, None]  # one item (or already-averaged responses)
    if r.ndim != 2 or r.shape[0] != s.shape[0] or r.shape[1] == 0:
        raise InvalidInputError(
            f"responses has shape {tuple(r.shape)} but must be (S, N) with S={s.shape[0]} rows, "
            "one per strength (transpose an (N, S) array with .T)"
        )
    return s, r


def _rank_corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation of x (S,) with each column of y (S, N); 0 where y is constant."""
    rx = scipy.stats.rankdata(x)  # (S,)
    ry = scipy.stats.rankdata(y, axis=0)  # (S, N), average ranks for ties
    rx = rx - rx.mean()
    ry = ry - ry.mean(axis=0)
    denom = np.sqrt((rx**2).sum() * (ry**2).sum(axis=0))  # (N,)
    num = rx @ ry  # (N,)
    # a flat response has no monotone trend: report 0 rather than NaN
    return np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)


def item_spearman(strengths: ArrayLike, responses: ArrayLike) -> np.ndarray:
    """Per-item Spearman (N,) of each item's responses (S, N) over the strengths (S,)."""
    s, r = _strength_grid(strengths, responses)
    return _rank_corr(s, r)


def dose_response(strengths: ArrayLike, responses: ArrayLike) -> dict[str, float]:
    """Line fit and monotonicity of the mean response (S,) over strengths (S,), responses (S, N)."""
    s, r = _strength_grid(strengths, responses)
    m = r.mean(axis=1)  # (S,) mean response per strength
    slope, intercept = np.polyfit(s, m, deg=1)
    ss_res = float(((m - (slope * s + intercept)) ** 2).sum())
    ss_tot = float(((m - m.mean()) ** 2).sum())
    # sklearn's r2_score convention: a constant response fitted exactly has r2 = 1
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)
    return {
        "slope": float(slope),
        "intercept": float(intercept),
        "r2": float(r2),
        "spearman": float(_rank_corr(s, m[:, None])[0]),
        "item_spearman_mean": float(_rank_corr(s, r).mean()),
        "n_strengths": int(s.shape[0]),
        "n_items": int(r.shape[1]),
    }


def off_target_matrix(
    pred_before: Mapping[str, ArrayLike],
    pred_after: Mapping[str, ArrayLike],
    target: str,
) -> dict[str, object]:
    """Mean |after - before| of every non-target attribute at each strength (A, S), and the
    systematic part |mean(after - before)| (``shift``, (A, S)): judge noise on blurred
    decodes raises the first but averages out of the second."""
    if target not in pred_before or target not in pred_after:
        raise NotFoundError(
            f"target attribute {target!r} is missing from the predictions (before: "
            f"{sorted(pred_before)}, after: {sorted(pred_after)}); predict it too, so the "
            "intended change can be compared with the off-target ones"
        )
    if set(pred_before) != set(pred_after):
        raise InvalidInputError(
            f"pred_before has attributes {sorted(pred_before)} but pred_after has "
            f"{sorted(pred_after)}; score the same attributes before and after the edit"
        )
    change: dict[str, np.ndarray] = {}
    shift: dict[str, np.ndarray] = {}
    n_strengths = None
    for name in sorted(pred_before):
        before = as_float(pred_before[name], f"pred_before[{name!r}]")
        after = as_float(pred_after[name], f"pred_after[{name!r}]")
        if before.ndim != 1 or after.ndim != 2 or after.shape[1] != before.shape[0]:
            raise InvalidInputError(
                f"pred_before[{name!r}] has shape {tuple(before.shape)} and pred_after[{name!r}] "
                f"{tuple(after.shape)}; expected (N,) and (S, N) for the same N items"
            )
        if n_strengths is not None and after.shape[0] != n_strengths:
            raise InvalidInputError(
                f"pred_after[{name!r}] has S={after.shape[0]} strengths but other attributes "
                f"have S={n_strengths}; score every attribute on the same strength grid"
            )
        n_strengths = after.shape[0]
        change[name] = np.abs(after - before[None, :]).mean(axis=1)  # (S,)
        shift[name] = np.abs((after - before[None, :]).mean(axis=1))  # (S,)
    others = [name for name in change if name != target]
    matrix = np.stack([change[n] for n in others]) if others else np.zeros((0, n_strengths))
    return {
        "attributes": others,
        "matrix": matrix,  # (A, S)
        "shift": np.stack([shift[n] for n in others]) if others else np.zeros((0, n_strengths)),
        "target_change": change[target],  # (S,)
        "per_attribute": {n: float(change[n].mean()) for n in others},
        "max_off_target": float(matrix.max()) if others else 0.0,
    }


def frechet_distance_from_stats(
    mu_a: ArrayLike, cov_a: ArrayLike, mu_b: ArrayLike, cov_b: ArrayLike, *, eps: float = 1e-6
) -> float:
    """Fréchet distance of two Gaussians: |mu_a - mu_b|² + tr(Ca + Cb - 2 (Ca Cb)^½)."""
    mu_a, mu_b = as_float(mu_a, "mu_a"), as_float(mu_b, "mu_b")
    cov_a, cov_b = as_float(cov_a, "cov_a"), as_float(cov_b, "cov_b")
    f = mu_a.shape[0]
    if mu_a.shape != (f,) or mu_b.shape != (f,) or cov_a.shape != (f, f) or cov_b.shape != (f, f):
        raise InvalidInputError(
            f"stats shapes mu_a {mu_a.shape}, cov_a {cov_a.shape}, mu_b {mu_b.shape}, cov_b "
            f"{cov_b.shape} do not match; expected (f,), (f, f) with one f for both sets"
        )
    diff = mu_a - mu_b  # (f,)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(cov_a @ cov_b)  # (f, f)
    if caught or not np.isfinite(covmean).all():
        # singular product (e.g. fewer samples than features, or dead features): offset the
        # diagonals, as the reference FID code (TTUR / pytorch-fid) does
        offset = np.eye(f) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            covmean = scipy.linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise InvalidInputError(
                f"the covariance square root has an imaginary part of "
                f"{np.max(np.abs(covmean.imag)):.3g}; the features are numerically degenerate: "
                "use more samples than feature dims or reduce the feature dim"
            )
        covmean = covmean.real
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)
    # the formula is a squared distance; rounding can leave -1e-12 for identical sets
    return float(max(value, 0.0))


def frechet_distance(feats_a: ArrayLike, feats_b: ArrayLike, *, eps: float = 1e-6) -> float:
    """Fréchet (FID-formula) distance between Gaussians fitted to feats_a (N, f), feats_b (M, f)."""
    a, b = as_float(feats_a, "feats_a"), as_float(feats_b, "feats_b")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise InvalidInputError(
            f"feats_a {tuple(a.shape)} and feats_b {tuple(b.shape)} must be 2-D (N, f), (M, f) "
            "with the same f and at least 2 rows each (a covariance needs 2 samples)"
        )
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))  # (f, f)
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))  # (f, f)
    return frechet_distance_from_stats(a.mean(axis=0), cov_a, b.mean(axis=0), cov_b, eps=eps)


def path_length(features: ArrayLike, eps: float) -> dict[str, float]:
    """PPL-style smoothness: mean |f_{t+1} - f_t|² / eps² over features (T, N, f), 1-99 % trim."""
    x = as_float(features, "features")
    if x.ndim != 3 or x.shape[0] < 2:
        raise InvalidInputError(
            f"features has shape {tuple(x.shape)} but must be (T, N, f) with T >= 2 steps: "
            "T consecutive outputs of N paths, f feature dims (add an f axis with x[..., None])"
        )
    if not eps > 0:
        raise InvalidInputError(f"eps={eps!r} must be the step between outputs, a float > 0")
    dist = (((x[1:] - x[:-1]) ** 2).sum(axis=-1) / eps**2).reshape(-1)  # ((T-1) * N,)
    # StyleGAN's PPL trims outliers with 'lower' / 'higher' percentile interpolation
    lo = np.percentile(dist, 1, method="lower")
    hi = np.percentile(dist, 99, method="higher")
    kept = dist[(dist >= lo) & (dist <= hi)]
    return {
        "path_length": float(kept.mean()),
        "median": float(np.median(dist)),
        "trim_low": float(lo),
        "trim_high": float(hi),
        "n_pairs": int(dist.shape[0]),
        "n_kept": int(kept.shape[0]),
    }


def locality(delta: ArrayLike) -> float:
    """How concentrated a change is: 1 - normalised participation ratio, mean over items."""
    x = as_float(delta, "delta")
    if x.ndim < 2 or x[0].size < 2:
        raise InvalidInputError(
            f"delta has shape {tuple(x.shape)} but must be (N, ...) with at least 2 elements per "
            "item (the change of each item, e.g. edited minus original image)"
        )
    e = x.reshape(x.shape[0], -1) ** 2  # (N, D) energy of the change per element
    total = e.sum(axis=1)  # (N,)
    moved = total > 0
    if not moved.any():
        raise InvalidInputError(
            "delta is zero for every item, so there is no change to localise; check that the "
            "edit strength is non-zero"
        )
    e, total = e[moved], total[moved]
    dim = e.shape[1]
    # participation ratio (sum e)² / sum e² = effective number of changed elements, in [1, D]
    pr = total**2 / (e**2).sum(axis=1)  # (N',)
    return float(np.mean(1.0 - (pr - 1.0) / (dim - 1.0)))


def prior_plausibility(logp_edit: ArrayLike, logp_data: ArrayLike) -> dict[str, float]:
    """Where edited log p(z) (N,) fall within the data's log p(z) (M,): percentiles, tail share."""
    edit, data = as_float(logp_edit, "logp_edit"), as_float(logp_data, "logp_data")
    if edit.ndim != 1 or data.ndim != 1 or edit.shape[0] < 1 or data.shape[0] < 2:
        raise InvalidInputError(
            f"logp_edit {tuple(edit.shape)} and logp_data {tuple(data.shape)} must be 1-D, with "
            "at least 1 edit and 2 data values"
        )
    ordered = np.sort(data)  # (M,)
    # weak percentile of each edit: share of data with log p <= it (scipy kind="weak")
    pct = 100.0 * np.searchsorted(ordered, edit, side="right") / ordered.shape[0]  # (N,)
    p1 = float(np.percentile(data, 1))
    return {
        "median_percentile": float(np.median(pct)),
        "mean_percentile": float(pct.mean()),
        "frac_below_data_p1": float(np.mean(edit < p1)),
        "data_p1": p1,
    }


def calibrate_strength(strengths: ArrayLike, responses: ArrayLike, target_delta: float) -> float:
    """Smallest-|s| strength moving the mean response by ``target_delta`` from strength 0."""
    s, r = _strength_grid(strengths, responses)
    order = np.argsort(s)
    s, m = s[order], r[order].mean(axis=1)  # (S,) sorted grid, mean response
    if not s[0] <= 0.0 <= s[-1]:
        raise InvalidInputError(
            f"strengths span [{s[0]:g}, {s[-1]:g}] but must include 0 (the unedited response "
            "that target_delta is measured from); add 0 or negative/positive strengths"
        )
    if not np.isfinite(target_delta):
        raise InvalidInputError(f"target_delta={target_delta!r} must be a finite float")
    # monotone fit (pool adjacent violators, direction from the Spearman sign) so that
    # judge noise cannot create several crossings
    increasing = bool(_rank_corr(s, m[:, None])[0] >= 0)
    g = IsotonicRegression(increasing=increasing).fit_transform(s, m)  # (S,)
    g = g - np.interp(0.0, s, g)  # (S,) change of the mean response relative to strength 0
    if not g.min() <= target_delta <= g.max():
        raise InvalidInputError(
            f"target_delta={target_delta:g} is outside the reachable change "
            f"[{g.min():.4g}, {g.max():.4g}] over strengths [{s[0]:g}, {s[-1]:g}]; widen the "
            "strength grid or ask for a smaller change"
        )
    best = None
    for i in range(s.shape[0] - 1):
        lo, hi = g[i], g[i + 1]
        if min(lo, hi) <= target_delta <= max(lo, hi):
            if lo == hi:
                cands = [s[i], s[i + 1]]
            else:
                cands = [s[i] + (target_delta - lo) * (s[i + 1] - s[i]) / (hi - lo)]
            for c in cands:
                if best is None or abs(c) < abs(best):
                    best = float(c)
    return float(best)


WEAK_PROBE_MIN = 0.7  # held-out probe score (R², accuracy) above which a label counts as encoded
WEAK_CHANGE_MAX = 0.5  # judged change over the whole grid below this (judge units): weak
WEAK_SPEARMAN_MAX = 0.5  # or a median per-item Spearman below this: no reliable trend


def weak_semantics(
    probe_score: float, strengths: ArrayLike, responses: ArrayLike
) -> dict[str, float]:
    """Flag "weak semantics": the latents encode the label (a high probe score) but editing
    along the direction barely moves what the judge sees (the chapter's third failure mode).

    ``responses`` (S, N) are the judge's predictions of the direction's own label, e.g. the
    expected class index, so the change is in class steps. Returns the flag (1.0 / 0.0), the
    mean judged change between the extreme strengths and the median per-item Spearman.
    """
    if not np.isfinite(probe_score):
        raise InvalidInputError(f"probe_score={probe_score!r} must be a finite held-out score")
    s, r = _strength_grid(strengths, responses)
    m = r.mean(axis=1)  # (S,)
    change = float(abs(m[np.argmax(s)] - m[np.argmin(s)]))
    rho = float(np.median(_rank_corr(s, r)))
    weak = probe_score >= WEAK_PROBE_MIN and (change < WEAK_CHANGE_MAX or rho < WEAK_SPEARMAN_MAX)
    return {"weak_semantics": float(weak), "judged_change": change, "item_spearman_median": rho}
