"""Direction flows: fit one or many directions on a pinned latent table snapshot.

Each run emits one ``latentops.direction.registered`` naming the versions it registered, so a
served re-evaluate deployment scores hand-fitted directions as it does refitted ones.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from latentops.flows._lineage import record_directions
from latentops.storage import Store
from latentops.tasks.directions import fit_and_register, plan_fit_all


@flow(name="fit-directions")
def fit_directions_flow(
    table: str,
    specs: list[dict[str, Any]],
    *,
    store: str | None = None,
    table_version: int | None = None,
) -> list[str]:
    """Fit each spec {name, method, label?, params?} concurrently; return registered refs."""
    opened = Store.open(store)
    root = str(opened.root)
    version = opened.latent_table(table).version if table_version is None else table_version
    futures = [
        fit_and_register.submit(root, table, table_version=version, **spec) for spec in specs
    ]
    refs = [ref for future in futures for ref in future.result()]
    get_run_logger().info("registered %d directions on %s@%d: %s", len(refs), table, version, refs)
    record_directions(root, refs, {}, source="fit")  # lets re-evaluate deployments react
    return refs


@flow(name="fit-all-directions")
def fit_all_flow(
    table: str,
    *,
    store: str | None = None,
    methods: list[str] | None = None,
    table_version: int | None = None,
) -> list[str]:
    """One direction per label column and applicable method, all on the same snapshot."""
    root = str(Store.open(store).root)
    version, plan = plan_fit_all(root, table, methods, table_version)
    return fit_directions_flow(table, plan, store=root, table_version=version)
