"""Transfer flow: carry a direction onto the latent table of another model (version)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from latentops.flows._lineage import record_directions
from latentops.storage import Store
from latentops.tasks.transfer import transfer_direction


@flow(name="transfer-direction")
def transfer_flow(
    ref: str,
    to_table: str,
    *,
    kind: str = "procrustes",
    name: str | None = None,
    store: str | None = None,
    table_version: int | None = None,
) -> dict[str, Any]:
    """Align ``ref``'s table with ``to_table``, register the carried direction; return a summary."""
    root = str(Store.open(store).root)
    out = transfer_direction(root, ref, to_table, kind=kind, name=name, table_version=table_version)
    get_run_logger().info(
        "%s -> %s via %s (held-out error %.3f): %s %.3f carried, %.3f refit",
        ref,
        out["ref"],
        out["alignment"],
        out["alignment_heldout_rel_error"],
        out["metric"],
        out["carried"],
        out["refit"],
    )
    record_directions(root, [out["ref"]], {out["ref"]: out["transferred_from"]}, source="transfer")
    return out
