"""Transfer task: align two latent tables on their shared items, carry a direction across."""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.directions import Direction, parse_label
from latentops.directions.align import fit_alignment
from latentops.directions.transfer import carry_direction, check_transferable
from latentops.errors import InvalidInputError
from latentops.storage import DirectionLineage, Store
from latentops.storage.latents import factor_columns
from latentops.tasks._common import current_run_id


@task(cache_policy=NO_CACHE)
def transfer_direction(
    store_path: str,
    ref: str,
    to_table: str,
    *,
    kind: str = "procrustes",
    name: str | None = None,
    table_version: int | None = None,
) -> dict[str, Any]:
    """Register ``ref`` carried onto ``to_table`` (and the alignment used) as NAME@next.

    Everything that can fail (unknown names, too few shared items, a label the target lacks)
    fails before the first registration, so bad input registers nothing.
    """
    store = Store.open(store_path)
    direction, lineage, source_ref = store.directions.get(ref)
    if lineage.latent_table is None or lineage.latent_table_version is None:
        raise InvalidInputError(
            f"direction {source_ref} was not fitted on a latent table of this store (it was "
            "imported or given by hand), so there are no shared items to align on"
        )
    if lineage.latent_table == to_table:
        raise InvalidInputError(
            f"direction {source_ref} already lives on {to_table!r}; transfer it to a table of "
            "another model, or refit it here with `latentops directions fit`"
        )
    key = check_transferable(direction, str(source_ref))
    src = store.snapshot(lineage.latent_table, lineage.latent_table_version)
    dst = store.snapshot(to_table, table_version)
    shared, i_src, i_dst = np.intersect1d(src.ids, dst.ids, return_indices=True)
    alignment = fit_alignment(src.z[i_src], dst.z[i_dst], kind)  # (n, d1) -> (n, d2)
    columns = {
        c: dst.rows[c].to_numpy(zero_copy_only=False) for c in factor_columns(dst.rows.schema)
    }
    y, spec = parse_label(direction.label, columns)
    carried, _ = carry_direction(direction, alignment, dst.z, y, {})
    aligned = store.alignments.register(
        alignment,
        (src.name, src.version),
        (dst.name, dst.version),
        n_shared=len(shared),
        run_id=current_run_id(),
    )
    transfer = {
        "transferred_from": str(source_ref),
        "alignment": str(aligned),
        "alignment_kind": kind,
        "alignment_heldout_rel_error": alignment.metrics["heldout_rel_error"],
        "n_shared": int(len(shared)),
    }
    card = carried.to_card()
    carried = Direction.from_card(
        {**card, "params": {**card["params"], "transfer": transfer}}, carried.vector
    )
    registered = store.directions.register(
        name or source_ref.name,
        carried,
        DirectionLineage(
            space=dst.card.get("space", "mu"),
            latent_table=dst.name,
            latent_table_version=dst.version,
            model=dst.card.get("model"),
            model_sha256=dst.card.get("model_sha256"),
            label_spec=spec,
            parent=str(source_ref),
            run_id=current_run_id(),
        ),
    )
    return {
        "ref": str(registered),
        **transfer,
        "metric": key,
        "carried": carried.metrics.get(key),
        "refit": carried.metrics.get(f"refit_{key}"),
    }
