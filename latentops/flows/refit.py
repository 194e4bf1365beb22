"""Refit flow: bring directions up to date after their latent table gained a version."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from latentops.flows._lineage import record_directions
from latentops.flows.caching import InputVersions
from latentops.storage import Store
from latentops.tasks._common import transient_retries
from latentops.tasks.directions import fit_and_register
from latentops.tasks.refit import plan_refit


@flow(name="refit-directions")
def refit_flow(table: str | None = None, *, store: str | None = None) -> dict[str, Any]:
    """Refit each stale direction as ``name@next`` (parent = the old version); idempotent.

    A direction refit on the table's current version is no longer stale, so reruns (also
    after a crash) skip it. The fits are also cached by input versions (store, table
    version, model weights, spec): two refit runs racing on the same plan register once.
    """
    root = str(Store.open(store).root)
    plan = plan_refit(root, table)
    fit = fit_and_register.with_options(cache_policy=InputVersions(), **transient_retries())
    futures = [fit.submit(root, **spec) for spec in plan["refit"]]
    refs, cached, parents = [], [], {}
    for spec, future in zip(plan["refit"], futures, strict=True):
        out = future.result()
        (cached if future.state.name == "Cached" else refs).extend(out)
        parents.update({ref: spec["parent"] for ref in out})
    logger = get_run_logger()
    for skip in plan["skipped"]:
        logger.info("not refitting %s: %s", skip["ref"], skip["reason"])
    logger.info("refit %d direction(s): %s (%d cached)", len(refs), refs, len(cached))
    record_directions(root, refs, parents)
    return {"refit": refs, "cached": cached, "parents": parents, "skipped": plan["skipped"]}
