"""Transfer tasks: align two latent tables on their shared items, carry a direction across.

``transfer_direction`` (the CLI's) always registers the carried direction; ``carry_or_refit``
(the refit deployment's) registers the carried one only when it scores within a tolerance of
a fresh fit on the new table, else the fresh fit, and says which it chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.directions import Direction, parse_label
from latentops.directions.align import Alignment, fit_alignment
from latentops.directions.transfer import carry_direction, check_transferable
from latentops.errors import InvalidInputError
from latentops.refs import Ref
from latentops.storage import DirectionLineage, Snapshot, Store
from latentops.storage.latents import factor_columns
from latentops.tasks._common import current_run_id


@dataclass(frozen=True)
class _Carry:
    """Everything a transfer computed before registering anything."""

    source: Ref
    src: Snapshot
    dst: Snapshot
    alignment: Alignment
    n_shared: int
    carried: Direction
    refit: Direction
    label_spec: dict[str, Any]
    metric: str


def _carry(store: Store, ref: str, to_table: str, kind: str, table_version: int | None) -> _Carry:
    """Align ``ref``'s table with ``to_table`` and carry ``ref`` over; registers nothing."""
    direction, lineage, source = store.directions.get(ref)
    if lineage.latent_table is None or lineage.latent_table_version is None:
        raise InvalidInputError(
            f"direction {source} was not fitted on a latent table of this store (it was "
            "imported or given by hand), so there are no shared items to align on"
        )
    if lineage.latent_table == to_table:
        raise InvalidInputError(
            f"direction {source} already lives on {to_table!r}; transfer it to a table of "
            "another model, or refit it here with `latentops directions fit`"
        )
    metric = check_transferable(direction, str(source))
    src = store.snapshot(lineage.latent_table, lineage.latent_table_version)
    dst = store.snapshot(to_table, table_version)
    shared, i_src, i_dst = np.intersect1d(src.ids, dst.ids, return_indices=True)
    alignment = fit_alignment(src.z[i_src], dst.z[i_dst], kind)  # (n, d1) -> (n, d2)
    columns = {
        c: dst.rows[c].to_numpy(zero_copy_only=False) for c in factor_columns(dst.rows.schema)
    }
    y, spec = parse_label(direction.label, columns)
    carried, refit = carry_direction(direction, alignment, dst.z, y, {})
    return _Carry(source, src, dst, alignment, len(shared), carried, refit, spec, metric)


def _register(store: Store, name: str, direction: Direction, c: _Carry) -> str:
    """Register ``direction`` on the carry's target table, its source direction as parent."""
    lineage = DirectionLineage(
        space=c.dst.card.get("space", "mu"),
        latent_table=c.dst.name,
        latent_table_version=c.dst.version,
        model=c.dst.card.get("model"),
        model_sha256=c.dst.card.get("model_sha256"),
        label_spec=c.label_spec,
        parent=str(c.source),
        run_id=current_run_id(),
    )
    return str(store.directions.register(name, direction, lineage))


def _with_params(direction: Direction, **extra: Any) -> Direction:
    card = direction.to_card()
    return Direction.from_card({**card, "params": {**card["params"], **extra}}, direction.vector)


def _register_carried(store: Store, name: str, c: _Carry, **choice: Any) -> dict[str, Any]:
    """Register the alignment (unless this one is stored already: the fit is deterministic)
    and the carried direction (params name both); return a summary."""
    ends = (c.src.name, c.src.version), (c.dst.name, c.dst.version)
    aligned = store.alignments.find(*ends, c.alignment.kind) or store.alignments.register(
        c.alignment, *ends, n_shared=c.n_shared, run_id=current_run_id()
    )
    transfer = {
        "transferred_from": str(c.source),
        "alignment": str(aligned),
        "alignment_kind": c.alignment.kind,
        "alignment_heldout_rel_error": c.alignment.metrics["heldout_rel_error"],
        "n_shared": c.n_shared,
        **choice,
    }
    ref = _register(store, name, _with_params(c.carried, transfer=transfer), c)
    return {"ref": ref, **transfer, **_scores(c)}


def _scores(c: _Carry) -> dict[str, Any]:
    return {
        "metric": c.metric,
        "carried": c.carried.metrics.get(c.metric),
        "refit": c.refit.metrics.get(c.metric),
    }


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
    c = _carry(store, ref, to_table, kind, table_version)
    return _register_carried(store, name or c.source.name, c)


@task(cache_policy=NO_CACHE)
def carry_or_refit(
    store_path: str, ref: str, to_table: str, *, tolerance: float, kind: str = "procrustes"
) -> dict[str, Any]:
    """Register ``ref`` on ``to_table`` as NAME@next: carried if its held-out score is within
    ``tolerance`` of a fresh fit there, else the fresh fit; ``chosen`` says which."""
    store = Store.open(store_path)
    c = _carry(store, ref, to_table, kind, None)
    scores = _scores(c)
    chosen = "carried" if scores["carried"] >= scores["refit"] - tolerance else "refit"
    choice = {"chosen": chosen, "tolerance": tolerance}
    if chosen == "carried":
        return _register_carried(store, c.source.name, c, **choice)
    considered = {"considered": str(c.source), **choice, f"carried_{c.metric}": scores["carried"]}
    refit = _with_params(c.refit, carry=considered)
    return {"ref": _register(store, c.source.name, refit, c), **considered, **scores}
