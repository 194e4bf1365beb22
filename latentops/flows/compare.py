"""The method bake-off: every applicable method on one snapshot and split, judged the same way.

Check -> fit each method as a version of ``NAME_bakeoff`` (the losing fits stay for the
record) -> one scorecard run over all of them (the evaluate flow) -> rank and store the table
(scores of kind "bakeoff" + a Prefect table artifact) -> optionally register the winner as
``NAME``@next with its candidate version as parent.
"""

from __future__ import annotations

import re
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from latentops.flows._lineage import record_directions
from latentops.flows.artifacts import artifact_key
from latentops.flows.evaluate import evaluate_flow
from latentops.refs import check_name, generated_name
from latentops.storage import Store
from latentops.tasks.compare import describe, plan_compare, rank_and_record, register_winner
from latentops.tasks.directions import fit_and_register

CANDIDATES = "{name}_bakeoff"  # the catalog name holding every candidate fit as a version


def bakeoff_name(label: str) -> str:
    """The default direction name of a bake-off on ``label``: an SQL identifier."""
    return re.sub("_+", "_", generated_name(label)).strip("_") or "bakeoff"


@flow(name="compare-directions")
def compare_flow(
    table: str,
    label: str,
    judge: str,
    *,
    methods: list[str] | None = None,
    name: str | None = None,
    register_best: bool = False,
    store: str | None = None,
    table_version: int | None = None,
    strengths: list[float] | None = None,
    sample: int | None = 256,
    holdout: float = 0.2,
    seed: int = 0,
    calibrate: float | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Fit, score and rank every applicable method for ``label``; see the module doc."""
    root = str(Store.open(store).root)
    name = check_name(name or bakeoff_name(label), "direction name")
    candidates = check_name(CANDIDATES.format(name=name), "direction name")
    # Check: table, label, methods and judge, before anything is registered
    version, chosen, default_change = plan_compare(
        root, table, label, judge, methods, table_version
    )

    # Fit: same snapshot, same seeded held-out split; in order, so versions follow `chosen`
    refs, split = {}, {"holdout": holdout, "seed": seed}
    for fit in chosen:
        params = {**fit["params"], **split}
        (ref,) = fit_and_register(root, table, candidates, fit["method"], label, params, version)
        refs[ref] = describe(fit)

    # Score: one scorecard run over every candidate (same items, grid and judge)
    evaluation = evaluate_flow(
        table,
        list(refs),
        judge,
        strengths=strengths,
        sample=sample,
        seed=seed,
        calibrate=default_change if calibrate is None else calibrate,
        store=root,
        table_version=version,
        device=device,
    )

    # Rank and record
    ranked = rank_and_record(root, evaluation, refs, label, split)
    create_table_artifact(
        ranked,
        key=artifact_key("bakeoff", name),
        description=f"method bake-off for {label!r} on {table}@{version}, judge {judge}",
    )
    winner = register_winner(root, ranked[0]["direction"], name, ranked) if register_best else None
    record_directions(root, [*refs, *([winner] if winner else [])], {}, source="compare")
    get_run_logger().info("bake-off %s: %s", label, [(r["direction"], r["rank"]) for r in ranked])
    return {
        "table": table,
        "table_version": version,
        "label": label,
        "judge": evaluation["judge"],
        "scorecard_run": evaluation["run_id"],
        "ranked": ranked,
        "registered": winner,
    }
