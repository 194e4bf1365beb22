"""Bake-off tasks: check a comparison up front, rank the scored candidates, register the winner."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.directions import METHODS, applicable_methods, fit_direction, parse_label
from latentops.directions._targets import label_kind
from latentops.errors import InvalidInputError
from latentops.evaluation import check_judge, resolve_target
from latentops.evaluation.bakeoff import ESTIMATORS, rank_candidates, scorecard_summary
from latentops.storage import Store
from latentops.storage.latents import factor_columns, z_matrix
from latentops.storage.resources import load_decoder
from latentops.storage.scores import Protocol, Score, ScoreSource, build_score_rows
from latentops.tasks._common import current_run_id

PROBES = ("auc", "r2")  # the held-out probe a candidate's column shows
# A continuous label is also fitted by every classifier on its top / bottom EXTREMES percent
# (InterFaceGAN's selection), so its bake-off weighs regression against classification.
EXTREMES = 30


def candidates(usable: list[str], numeric: bool) -> list[dict[str, Any]]:
    """{method, params} of every candidate fit of a label with these applicable methods."""
    out = [{"method": m, "params": {}} for m in usable]
    if numeric:
        extremes = {"top_percent": EXTREMES, "bottom_percent": EXTREMES}
        out += [
            {"method": m, "params": dict(extremes)}
            for m, info in METHODS.items()
            if info.kind == "classification"
        ]
    return out


def describe(fit: dict[str, Any]) -> str:
    """A candidate's method as the table shows it: "ridge", "logistic top/bottom 30%"."""
    top = fit["params"].get("top_percent")
    return fit["method"] if top is None else f"{fit['method']} top/bottom {top:g}%"


@task(cache_policy=NO_CACHE)
def plan_compare(
    store_path: str,
    table: str,
    label: str,
    judge: str,
    methods: list[str] | None,
    table_version: int | None,
) -> tuple[int, list[dict[str, Any]], float]:
    """Before anything is fitted: pin the table, check label, methods and judge; return
    (version, candidate fits {method, params}, default calibration change of the response)."""
    store = Store.open(store_path)
    latents = store.latent_table(table)
    version = latents.version if table_version is None else table_version
    snap = latents.read(factor_columns(latents.schema(version)), version=version)
    columns = {c: snap[c].to_numpy(zero_copy_only=False) for c in snap.column_names}
    y, spec = parse_label(label, columns)
    if np.unique(y).shape[0] < 2:
        raise InvalidInputError(
            f"label {label!r} has a single class over {len(y)} rows of {table}@{version}; "
            "a bake-off needs labels that vary (pick another value or column)"
        )
    numeric = label_kind(y) == "numeric"
    fits = candidates(applicable_methods(y), numeric)
    usable = sorted({c["method"] for c in fits})
    wrong = [m for m in methods or () if m not in usable]
    if wrong or methods == []:
        raise InvalidInputError(
            f"method(s) {wrong or methods} do not apply to label {label!r}; its applicable "
            f"methods are {usable}"
        )
    chosen = [c for c in fits if methods is None or c["method"] in methods]
    card = latents.card
    net, _ = load_decoder(store, card, "cpu")
    judge_card = store.judges.card(judge)
    check_judge(judge_card, store.models.card(card["model"]), net.x_shape)
    resolve_target(None, spec, judge_card, f"the {label!r} bake-off")
    # a comparison is judged as a probability (move it by 0.25), a column in class steps (1)
    return version, chosen, 1.0 if spec["op"] is None else 0.25


def _common_probe(
    store: Store, table: str, version: int, label: str, refs: list[str], split: dict[str, Any]
) -> dict[str, float | None]:
    """Each candidate's held-out probe on ONE split and rule: its vector measured as a fixed
    (manual) direction against the label, so a ridge R² and an extremes-trained classifier's
    AUC are never compared; R² for a continuous label, AUC for a binary one."""
    latents = store.latent_table(table)
    snap = latents.read(version=version)  # the row order the fits split by
    columns = {c: snap[c].to_numpy(zero_copy_only=False) for c in factor_columns(snap.schema)}
    z = z_matrix(snap)  # (N, d)
    y, _ = parse_label(label, columns)
    out = {}
    for ref in refs:
        vector = store.directions.get(ref)[0].vector
        metrics = fit_direction(z, y, "manual", vector=vector.tolist(), **split).metrics
        out[ref] = next((float(metrics[k]) for k in PROBES if k in metrics), None)
    return out


@task(cache_policy=NO_CACHE)
def rank_and_record(
    store_path: str,
    evaluation: dict[str, Any],
    methods: dict[str, str],
    label: str,
    split: dict[str, Any],
) -> list[dict[str, Any]]:
    """Rank the candidates (ref -> method description) of one scorecard run; store the table
    as "bakeoff" scores."""
    store = Store.open(store_path)
    scores = store.scores.read(run_id=evaluation["run_id"]).to_pylist()
    probes = _common_probe(
        store, evaluation["table"], evaluation["table_version"], label, list(methods), split
    )
    rows = []
    for ref, method in methods.items():
        values = {(s["metric"], s["strength"]): s["value"] for s in scores if s["direction"] == ref}
        row = {"direction": ref, "method": method, "probe": probes[ref]}
        rows.append({**row, **scorecard_summary(values)})
    ranked = rank_candidates(rows)
    snap = store.snapshot(evaluation["table"], evaluation["table_version"])
    judge_card = store.judges.card(evaluation["judge"])
    protocol = Protocol(
        estimator="",
        n_items=evaluation["n_items"],
        strength_grid=tuple(evaluation["strengths"]),
        judge=judge_card["ref"],
        judge_sha256=judge_card["sha256"],
        params={"label": label, "scorecard_run": evaluation["run_id"], "methods": list(methods)},
    )
    out = [
        Score(
            f"bakeoff.{column}",
            row[column],
            replace(protocol, estimator=estimator),
            row["direction"],
            target=evaluation["targets"][row["direction"]],
        )
        for row in ranked
        for column, estimator in ESTIMATORS.items()
        if row[column] is not None
    ]
    run_id = current_run_id() or evaluation["run_id"]
    source = ScoreSource(
        run_id,
        "bakeoff",
        snap.card["model"],
        snap.card.get("model_sha256"),
        snap.name,
        snap.version,
    )
    store.scores.insert(build_score_rows(out, source), run_id)
    return ranked


@task(cache_policy=NO_CACHE)
def register_winner(store_path: str, winner: str, name: str, ranked: list[dict[str, Any]]) -> str:
    """Register the bake-off winner as ``name``@next, its candidate version as parent."""
    store = Store.open(store_path)
    direction, lineage, pinned = store.directions.get(winner)
    reason = {
        "bakeoff": {
            "winner": str(pinned),
            "table": [
                {k: r[k] for k in ("rank", "direction", "method", "mean_rank")} for r in ranked
            ],
        }
    }
    chosen = replace(direction, audit={**direction.audit, **json.loads(json.dumps(reason))})
    lineage = replace(lineage, parent=str(pinned), run_id=current_run_id())
    return str(store.directions.register(name, chosen, lineage))
