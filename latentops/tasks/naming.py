"""Naming task: turn a direction's judged traversal into suggested labels on its next version."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.evaluation import Part, merge_parts
from latentops.evaluation.naming import traversal_names
from latentops.storage import Store
from latentops.tasks._common import current_run_id


@task(cache_policy=NO_CACHE)
def name_and_register(
    store_path: str, ref: str, judge: str, parts: list[Part], strengths: list[float]
) -> str:
    """Suggested labels from the traversal's judged parts; register them as ``name``@next
    (same vector, ``ref`` as parent) and return the new reference."""
    store = Store.open(store_path)
    direction, lineage, pinned = store.directions.get(ref)
    judge_card = store.judges.card(judge)
    part = merge_parts(parts)
    names = traversal_names(np.asarray(strengths), part.pred, judge_card["factors"])
    names.update(judge=judge_card["ref"], n_items=int(part.n), unit=direction.strength_unit)
    named = replace(direction, audit={**direction.audit, "names": names})
    lineage = replace(lineage, parent=str(pinned), run_id=current_run_id())
    return str(store.directions.register(pinned.name, named, lineage))
