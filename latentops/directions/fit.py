"""fit_direction / fit_directions: one entry point for every method, with held-out diagnostics.

Protocol, the same for every supervised method so a bake-off compares like with like:
split the rows into train and held-out (``holdout`` share, stratified by class, ``seed``),
fit on the train split only, and return THAT vector, so the metrics describe exactly the
returned direction (no refit on all rows). The vector is oriented so its projection z·v
is larger for positives / correlates positively with y. Metrics on the held-out rows:
classification -> accuracy (1-D cut learned on train projections), auc, effect_size
(Cohen's d of z·v), threshold; regression -> r2 (1-D fit of y on z·v), r2_ridge (the full
model), pearson, slope; pca -> explained_variance(_ratio) on train, heldout_variance_ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from latentops._validate import is_int
from latentops.directions._data import (
    as_label_array,
    as_latent_array,
    as_numeric_target,
    py_scalar,
)
from latentops.directions._metrics import (
    classification_metrics,
    finite_only,
    r2_score,
    regression_metrics,
)
from latentops.directions._pattern import (
    FORMS,
    covariance,
    inactive_dims,
    inactive_share,
    pattern_of,
    spread_along,
)
from latentops.directions._probe import knn_score
from latentops.directions._split import (
    cap_rows,
    check_holdout,
    holdout_mask,
    stratified_holdout_mask,
)
from latentops.directions._stats import project
from latentops.directions._targets import binary_target, label_kind
from latentops.directions.direction import Direction
from latentops.directions.linear import linear_svm_vector, logistic_vector
from latentops.directions.manual import manual_direction
from latentops.directions.mean_diff import mean_diff_vector
from latentops.directions.methods import method_info
from latentops.directions.pca import check_n_components, pca_components, variance_along
from latentops.directions.regression import ridge_vector
from latentops.directions.sefa import sefa_directions
from latentops.errors import InvalidInputError

Array = np.ndarray | torch.Tensor
_LINEAR = {"logistic": logistic_vector, "linear_svm": linear_svm_vector}


def _check_max_train(max_train: Any) -> None:
    if max_train is not None and (not is_int(max_train, 2)):
        raise InvalidInputError(f"max_train={max_train!r} must be None or an int >= 2")


Metrics = dict[str, float | int]


@dataclass(frozen=True)
class Fitted:
    """A supervised fit: the edit vector, the filter it came from, metrics and the data's std."""

    vector: np.ndarray  # (d,) unit: the pattern (or the filter when form="filter")
    filter: np.ndarray  # (d,) unit: the fitted normal / coefficients, oriented like vector
    metrics: Metrics
    std: float  # std of the train rows' projection on vector


def _check_form(form: Any) -> str:
    if form not in FORMS:
        raise InvalidInputError(
            f"form={form!r} is not one of {FORMS}; 'pattern' (Cov(z) w, for edits) or 'filter' "
            "(the fitted weights w, the best linear readout)"
        )
    return str(form)


def _classify(
    z: np.ndarray, y: np.ndarray, method: str, opts: dict, holdout: float, seed: int
) -> tuple[Fitted, dict[str, Any]]:
    """Fit a classification direction; returns the fit and the target spec."""
    form = _check_form(opts.get("form", "pattern"))
    target = binary_target(
        y,
        positive=opts["positive"],
        top_percent=opts["top_percent"],
        bottom_percent=opts["bottom_percent"],
    )
    zs = z if target.rows is None else z[target.rows]  # (M, d) rows taking part
    t = target.t  # (M,)
    rng = np.random.default_rng(seed)
    train = ~stratified_holdout_mask(t, holdout, rng)  # (M,)
    extra: dict[str, int] = {}
    if method == "mean_diff":
        raw, n_fit = mean_diff_vector(zs, t, train), int(train.sum())
    else:
        _check_max_train(opts["max_train"])
        rows = cap_rows(np.flatnonzero(train), opts["max_train"], rng, t)
        raw, extra = _LINEAR[method](
            zs[rows],
            t[rows],
            C=opts["C"],
            class_weight=opts["class_weight"],
            max_iter=opts["max_iter"],
        )
        n_fit = int(rows.shape[0])
    filt = _orient_binary(raw / np.linalg.norm(raw), zs, t, train)
    linear = classification_metrics(*_split_projection(zs, filt, t, train))
    cov = covariance(zs, train)
    # mean_diff is already a pattern: the class-mean difference is what the data vary along
    v = filt if method == "mean_diff" or form == "filter" else pattern_of(cov, filt)
    v = _orient_binary(v, zs, t, train)
    metrics = classification_metrics(*_split_projection(zs, v, t, train))
    metrics.update(
        n_pos=int(t.sum()), n_neg=int((~t).sum()), n_train=int(train.sum()), n_fit=n_fit, **extra
    )
    metrics.update(
        linear_accuracy=linear["accuracy"],
        knn_accuracy=knn_score(zs, t, train, classify=True, seed=seed),
        **_shares(cov, v, filt),
    )
    return Fitted(v, filt, metrics, spread_along(cov, v)), target.spec


def _orient_binary(v: np.ndarray, z: np.ndarray, t: np.ndarray, train: np.ndarray) -> np.ndarray:
    """v or -v, whichever makes the projection larger for positives on the train rows."""
    p = project(z, v)  # (M,)
    return -v if p[train & t].mean() < p[train & ~t].mean() else v


def _split_projection(
    z: np.ndarray, v: np.ndarray, y: np.ndarray, train: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(p_train, y_train, p_hold, y_hold) of the projections z·v."""
    p = project(z, v)  # (M,)
    return p[train], y[train], p[~train], y[~train]


def _shares(cov: np.ndarray, v: np.ndarray, filt: np.ndarray) -> Metrics:
    """Share of the edit vector's and the filter's weight on inactive dimensions."""
    inactive = inactive_dims(cov)
    return {
        "inactive_share": inactive_share(v, inactive),
        "filter_inactive_share": inactive_share(filt, inactive),
        "n_inactive_dims": int(inactive.sum()),
    }


def _regress(z: np.ndarray, y: np.ndarray, opts: dict, holdout: float, seed: int) -> Fitted:
    """Fit a ridge direction (its pattern unless form="filter")."""
    form = _check_form(opts["form"])
    yv = as_numeric_target(y, "ridge")  # (N,) float64
    train = ~holdout_mask(z.shape[0], holdout, np.random.default_rng(seed))
    coef, intercept = ridge_vector(z, yv, train, alpha=opts["alpha"])
    norm = float(np.linalg.norm(coef))
    r2_full = r2_score(yv[~train], project(z[~train], coef / norm) * norm + intercept)
    # ridge predictions always correlate positively with y on its training rows; kept as a check
    filt = _orient_numeric(coef / norm, z, yv, train)
    cov = covariance(z, train)
    v = filt if form == "filter" else _orient_numeric(pattern_of(cov, filt), z, yv, train)
    metrics = regression_metrics(*_split_projection(z, v, yv, train))
    metrics.update(
        r2_ridge=r2_full,
        n_train=int(train.sum()),
        linear_r2=r2_full,
        knn_r2=knn_score(z, yv, train, classify=False, seed=seed),
        **_shares(cov, v, filt),
    )
    return Fitted(v, filt, metrics, spread_along(cov, v))


def _orient_numeric(v: np.ndarray, z: np.ndarray, y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """v or -v, whichever projection correlates positively with y on the train rows."""
    p = project(z, v)[train]  # (n_train,)
    return -v if np.cov(p, y[train])[0, 1] < 0 else v


def _measure(
    z: np.ndarray, y: np.ndarray, v: np.ndarray, positive: Any, holdout: float, seed: int
) -> tuple[int, Metrics, dict[str, Any]]:
    """Held-out metrics of a fixed vector along sign * v; returns (sign, metrics, target spec).

    Nothing is fitted, but the sign and the 1-D cut / slope still come from the train rows so
    the metrics mean the same as for fitted methods.
    """
    p = project(z, v)  # (N,)
    if positive is None and label_kind(y) == "numeric":
        yv = as_numeric_target(y, "manual")
        train = ~holdout_mask(z.shape[0], holdout, np.random.default_rng(seed))
        sign = 1 if np.cov(p[train], yv[train])[0, 1] >= 0 else -1
        p = sign * p
        metrics = regression_metrics(p[train], yv[train], p[~train], yv[~train])
        metrics["n_train"] = int(train.sum())
        return sign, metrics, {"rule": "numeric"}
    target = binary_target(y, positive=positive)
    t = target.t  # (N,)
    train = ~stratified_holdout_mask(t, holdout, np.random.default_rng(seed))
    sign = 1 if p[train & t].mean() >= p[train & ~t].mean() else -1
    p = sign * p
    metrics = classification_metrics(p[train], t[train], p[~train], t[~train])
    metrics.update(n_pos=int(t.sum()), n_neg=int((~t).sum()), n_train=int(train.sum()))
    return sign, metrics, target.spec


def _pca(z: Any, y: Any, k: int, holdout: float, seed: int, label: str | None) -> list[Direction]:
    if y is not None:
        raise InvalidInputError("pca is unsupervised and takes no labels; drop y (or use ridge)")
    z = as_latent_array(z)
    k = check_n_components(k, z.shape[1], "pca")
    holdout = check_holdout(holdout, allow_zero=True)
    hold = holdout_mask(z.shape[0], holdout, np.random.default_rng(seed)) if holdout else None
    comps, variances, total, n = pca_components(z, None if hold is None else ~hold, k)
    metrics = [
        {
            "explained_variance": float(variances[i]),
            "explained_variance_ratio": float(variances[i]) / total,
            "n_train": n,
        }
        for i in range(k)
    ]
    if hold is not None:
        held, held_total = variance_along(z, hold, comps)
        for i in range(k):
            metrics[i]["heldout_variance_ratio"] = float(held[i]) / held_total
            metrics[i]["n_holdout"] = int(hold.sum())
    params = {"holdout": holdout, "seed": seed}
    return [
        Direction(
            vector=comps[i],
            method="pca",
            params=params,
            metrics=finite_only(metrics[i]),
            label=label,
            kind="unsupervised",
            component=i,
            # strengths in std units: the spread of the train rows along the component
            std=float(np.sqrt(variances[i])) if variances[i] > 0 else None,
        )
        for i in range(k)
    ]


def _sefa(
    z: Any, y: Any, k: int, weight: Any, normalize: bool, label: str | None
) -> list[Direction]:
    if y is not None:
        raise InvalidInputError("sefa uses only the decoder weight and takes no labels; drop y")
    out = sefa_directions(weight, k, normalize=normalize)
    if z is not None:
        d = as_latent_array(z).shape[1]
        if out[0].d != d:
            raise InvalidInputError(
                f"weight has d={out[0].d} input columns but z has d={d}; pass the first "
                "decoder layer of the model that produced these latents (shape (out, d))"
            )
    if label is None:
        return out
    return [Direction.from_card({**o.to_card(), "label": label}, o.vector) for o in out]


def _manual(z: Any, y: Any, opts: dict, holdout: float, seed: int, label: str | None) -> Direction:
    if z is not None:
        z = as_latent_array(z)
    d = None if z is None else z.shape[1]
    direction = manual_direction(opts["vector"], axis=opts["axis"], d=d, label=label)
    if y is None:
        if opts["positive"] is not None:
            raise InvalidInputError("positive= picks a class of y, so it needs labels y too")
        return direction
    if z is None:
        raise InvalidInputError("measuring a manual direction against y needs the latents z too")
    y = as_label_array(y, z.shape[0])
    holdout = check_holdout(holdout, allow_zero=False)
    v = direction.vector.astype(np.float64)
    sign, metrics, spec = _measure(z, y, v, opts["positive"], holdout, seed)
    params = {**direction.params, "holdout": holdout, "seed": seed, "target": spec}
    return Direction(
        vector=v,
        method="manual",
        params=params,
        metrics=finite_only(metrics),
        label=label,
        kind="manual",
        sign=sign,
    )


def fit_direction(
    z: Array | None,
    y: Array | list | None = None,
    method: str = "mean_diff",
    *,
    holdout: float = 0.2,
    seed: int = 0,
    label: str | None = None,
    **params: Any,
) -> Direction:
    """Fit one direction of ``method`` on latents z (N, d) and labels y (N,); see module doc."""
    info = method_info(method)
    opts = info.resolve(params)
    if info.kind == "unsupervised":
        component = opts.pop("component")
        if not is_int(component, 0):
            raise InvalidInputError(f"component={component!r} must be an int >= 0")
        found = fit_directions(
            z,
            y,
            method,
            n_components=component + 1,
            holdout=holdout,
            seed=seed,
            label=label,
            **opts,
        )
        return found[component]
    if info.kind == "manual":
        return _manual(z, y, opts, holdout, seed, label)
    z = as_latent_array(z)
    y = as_label_array(y, z.shape[0])
    holdout = check_holdout(holdout, allow_zero=False)
    if info.kind == "classification":
        fitted, spec = _classify(z, y, method, opts, holdout, seed)
    else:
        fitted, spec = _regress(z, y, opts, holdout, seed), {"rule": "numeric"}
    form = "pattern" if method == "mean_diff" else opts["form"]
    params = {**{k: py_scalar(x) for k, x in opts.items()}, "holdout": holdout, "seed": seed}
    return Direction(
        vector=fitted.vector,
        method=method,
        params={**params, "target": spec},
        metrics=finite_only(fitted.metrics),
        label=label,
        kind=info.kind,
        form=form,
        std=fitted.std,
        filter=fitted.filter if form == "pattern" else None,
    )


def fit_directions(
    z: Array | None,
    y: Array | list | None = None,
    method: str = "pca",
    *,
    n_components: int = 1,
    holdout: float = 0.2,
    seed: int = 0,
    label: str | None = None,
    **params: Any,
) -> list[Direction]:
    """Fit ``n_components`` ranked directions (pca, sefa); other methods give a list of one."""
    info = method_info(method)
    if not info.multi:
        if n_components != 1:
            raise InvalidInputError(
                f"method {method!r} yields one direction, so n_components must be 1 "
                f"(got {n_components!r}); use 'pca' or 'sefa' for several"
            )
        return [fit_direction(z, y, method, holdout=holdout, seed=seed, label=label, **params)]
    if "component" in params:
        raise InvalidInputError(
            "component= picks one direction in fit_direction; fit_directions returns "
            "components 0..n_components-1"
        )
    opts = info.resolve({"component": 0, **params})
    if method == "pca":
        return _pca(z, y, n_components, holdout, seed, label)
    return _sefa(z, y, n_components, opts["weight"], opts["normalize"], label)
