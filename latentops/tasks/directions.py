"""Direction tasks: read a pinned latent snapshot, fit (pure), register with lineage."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from latentops.directions import (
    Direction,
    applicable_methods,
    entanglement,
    fit_direction,
    fit_directions,
    parse_label,
    sefa_directions,
)
from latentops.directions.audit import audit_flags, label_bias, similar_directions
from latentops.errors import InvalidInputError
from latentops.models import require
from latentops.storage import DirectionLineage, Store
from latentops.storage.latents import factor_columns, z_matrix
from latentops.storage.resources import load_model
from latentops.tasks._common import current_run_id

UNSUPERVISED = ("pca", "sefa")


def _load_snapshot(
    store: Store, table: str, version: int | None
) -> tuple[np.ndarray, dict[str, np.ndarray], int, dict]:
    latents = store.latent_table(table)
    version = latents.version if version is None else version
    snap = latents.read(version=version)
    columns = {c: snap[c].to_numpy(zero_copy_only=False) for c in factor_columns(snap.schema)}
    return z_matrix(snap), columns, version, latents.card


def _register(
    store: Store,
    name: str,
    direction: Direction,
    table: str,
    version: int,
    card: dict,
    label_spec: dict[str, Any] | None,
    parent: str | None = None,
    bias: dict[str, float] | None = None,
) -> str:
    others = store.directions.latest(card["model"])
    others = {k: v for k, v in others.items() if k.partition("@")[0] != name and v.d == direction.d}
    audit = {**direction.audit, "similar": similar_directions(direction, others)}
    if bias is not None:
        audit["label_bias"] = bias
    cosines = {f"cos/{k}": v for k, v in entanglement(direction, others).items()} if others else {}
    direction = replace(direction, metrics={**direction.metrics, **cosines}, audit=audit)
    for flag in audit_flags(audit):
        get_run_logger().warning("%s: %s", name, flag)
    lineage = DirectionLineage(
        space=card.get("space", "mu"),
        latent_table=table,
        latent_table_version=version,
        model=card["model"],
        model_sha256=card.get("model_sha256"),
        label_spec=label_spec,
        parent=parent,
        run_id=current_run_id(),
    )
    return str(store.directions.register(name, direction, lineage))


@task(cache_policy=NO_CACHE)
def fit_and_register(
    store_path: str,
    table: str,
    name: str,
    method: str,
    label: str | None = None,
    params: dict[str, Any] | None = None,
    table_version: int | None = None,
    parent: str | None = None,
) -> list[str]:
    """Fit ``method`` on ``label`` over a pinned table snapshot; register and return refs.

    ``parent`` names the direction version this fit supersedes (a refit), kept in lineage.
    """
    if method in UNSUPERVISED and parent is not None:
        raise InvalidInputError(
            f"parent={parent!r} applies to one supervised direction, not to {method!r} components"
        )
    store = Store.open(store_path)
    params = dict(params or {})
    z, columns, version, card = _load_snapshot(store, table, table_version)
    if method in UNSUPERVISED:
        if method == "sefa":
            model, _, _ = load_model(store, card["model"], "cpu")
            fix = "use a supervised direction method, or pca on the latents"
            require(model, "first_decoder_layer", card["model"], "SeFa", fix)
            weight = model.first_decoder_weight().detach().cpu().numpy()  # (out, d)
            found = sefa_directions(weight, params.pop("n_components", 5))
        else:
            k = params.pop("n_components", 3)
            found = fit_directions(z, method=method, n_components=k, **params)
        return [
            _register(store, f"{name}-{method}{d.component}", d, table, version, card, None)
            for d in found
        ]
    if label is None:
        if method != "manual":
            raise InvalidInputError(
                f"method {method!r} is supervised: pass --label, e.g. --label shape==2"
            )
        direction = fit_direction(z, None, method=method, **params)  # an axis or vector as is
        return [_register(store, name, direction, table, version, card, None, parent)]
    y, spec = parse_label(label, columns)
    direction = fit_direction(z, y, method=method, label=label, **params)
    bias = label_bias(y, columns, exclude=spec["column"])
    return [_register(store, name, direction, table, version, card, spec, parent, bias)]


def label_specs(columns: dict[str, np.ndarray], max_classes: int = 4) -> list[tuple[str, str]]:
    """(name, label expression) per label column: one-vs-rest for few classes, else raw values."""
    specs = []
    for col, values in columns.items():
        if values.dtype.kind not in "iufb":
            continue
        classes = np.unique(values)
        if len(classes) < 2:
            continue
        if len(classes) <= max_classes and values.dtype.kind in "iub":
            specs += [(f"{col}-{c}", f"{col}=={c}") for c in classes]
        else:
            specs.append((col, col))
    return specs


@task(cache_policy=NO_CACHE)
def plan_fit_all(
    store_path: str, table: str, methods: list[str] | None, table_version: int | None
) -> tuple[int, list[dict[str, Any]]]:
    """Pin the table version and list (name, label, method) for every label column."""
    store = Store.open(store_path)
    z, columns, version, _ = _load_snapshot(store, table, table_version)
    plan = []
    for name, label in label_specs(columns):
        y, _ = parse_label(label, columns)
        for method in applicable_methods(y):
            if methods is None or method in methods:
                plan.append({"name": f"{name}-{method}", "label": label, "method": method})
    return version, plan
