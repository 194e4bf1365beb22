"""Disentangle tasks: propose the conditional direction from a scorecard, keep the better one."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.directions import applicable_methods, fit_direction
from latentops.directions.disentangle import conditional_on, selectivity, worst_leaks
from latentops.errors import InvalidInputError
from latentops.storage import Store
from latentops.storage.latents import factor_columns, z_matrix
from latentops.tasks._common import current_run_id

LEAK = "leak."  # the systematic judged change of another attribute


def judged(store: Store, run_id: str, ref: str, judge: str) -> dict[str, Any]:
    """A scorecard run's verdict on ``ref``: effect, leaks per attribute, selectivity."""
    rows = [r for r in store.scores.read(run_id=run_id).to_pylist() if r["direction"] == ref]
    sizes = store.judges.card(judge)["factors"]
    mean = {r["strength"]: r["value"] for r in rows if r["metric"] == "target.mean"}
    first = next(r for r in rows if r["metric"] == "target.mean")
    target, expr = first["target"], json.loads(first["params_json"])["target"]
    leaks: dict[str, float] = {}
    for r in rows:
        if r["metric"].startswith(LEAK):
            attr = r["metric"][len(LEAK) :]
            leaks[attr] = max(leaks.get(attr, 0.0), r["value"])
    effect = mean[max(mean)] - mean[min(mean)]
    # a comparison target is a probability (range 1), a column its class index (K - 1 steps)
    span = max(sizes[target] - 1, 1) if expr == target else 1
    share = abs(effect) / span
    return {
        "effect": effect,
        "effect_share": share,
        "off_target": leaks,
        "selectivity": selectivity(share, leaks, sizes),
    }


@task(cache_policy=NO_CACHE)
def propose_conditional(store_path: str, ref: str, run_id: str, judge: str) -> str:
    """Register ``name``@next: ``ref`` orthogonalised against its worst leaks' directions."""
    store = Store.open(store_path)
    direction, lineage, pinned = store.directions.get(ref)
    verdict = judged(store, run_id, str(pinned), judge)
    leaks = worst_leaks(verdict["off_target"], store.judges.card(judge)["factors"])
    snap = store.latent_table(lineage.latent_table).read(version=lineage.latent_table_version)
    columns = {c: snap[c].to_numpy(zero_copy_only=False) for c in factor_columns(snap.schema)}
    missing = [a for a in leaks if a not in columns]
    if missing or not leaks:
        raise InvalidInputError(
            f"{pinned} leaks into {leaks or 'nothing'} but its table {lineage.latent_table} has "
            f"no label column for {missing or leaks}; nothing to condition on"
        )
    z = z_matrix(snap)  # (N, d)
    leaking = {}
    for attr in leaks:  # each attribute's pattern: the direction it varies along in the data
        method = "ridge" if "ridge" in applicable_methods(columns[attr]) else "logistic"
        leaking[attr] = fit_direction(z, columns[attr], method, label=attr)
    reason = {
        "from": str(pinned),
        "scorecard_run": run_id,
        "removed": leaks,
        "off_target": verdict["off_target"],
        "why": f"editing {pinned} also changed {', '.join(leaks)} (judged off-target)",
    }
    child = conditional_on(direction, leaking, z, reason)
    lineage = replace(lineage, parent=str(pinned), run_id=current_run_id())
    return str(store.directions.register(pinned.name, child, lineage))


@task(cache_policy=NO_CACHE)
def keep_better(
    store_path: str, parent: str, child: str, runs: dict[str, str], judge: str
) -> dict[str, Any]:
    """Compare parent and child on selectivity; if the parent wins, register it again as the
    latest version (the child stays in the catalog), so NAME means the better one."""
    store = Store.open(store_path)
    verdicts = {ref: judged(store, runs[ref], ref, judge) for ref in (parent, child)}
    kept = child if verdicts[child]["selectivity"] >= verdicts[parent]["selectivity"] else parent
    latest = child
    if kept == parent:
        direction, lineage, pinned = store.directions.get(parent)
        why = {"kept": parent, "over": child, "verdicts": verdicts}
        again = replace(direction, audit={**direction.audit, "disentangle": why})
        lineage = replace(lineage, parent=child, run_id=current_run_id())
        latest = str(store.directions.register(pinned.name, again, lineage))
    return {"kept": kept, "latest": latest, "verdicts": verdicts}
