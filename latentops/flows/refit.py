"""Refit flow: bring directions up to date after their latent table gained a version."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from latentops.errors import InvalidInputError
from latentops.flows._lineage import record_directions
from latentops.flows.caching import InputVersions
from latentops.storage import Store
from latentops.tasks._common import transient_retries
from latentops.tasks.directions import fit_and_register
from latentops.tasks.refit import plan_refit
from latentops.tasks.transfer import carry_or_refit


@flow(name="refit-directions")
def refit_flow(
    table: str | None = None, *, store: str | None = None, carry_tolerance: float = 0.01
) -> dict[str, Any]:
    """Refit each stale direction as ``name@next`` (parent = the old version); idempotent.

    A direction refit on the table's current version is no longer stale, so reruns (also
    after a crash) skip it. The fits are also cached by input versions (store, table
    version, model weights, spec): two refit runs racing on the same plan register once.
    A direction whose model gained a version with a latent table moves there: carried
    through a Procrustes alignment when its held-out score is within ``carry_tolerance`` of
    a fresh fit on that table (directions stay comparable across models), else refit.
    """
    if isinstance(carry_tolerance, bool) or not 0 <= carry_tolerance < 1:
        raise InvalidInputError(
            f"carry_tolerance={carry_tolerance!r} must be in [0, 1): how much held-out AUC/R² "
            "a carried direction may lose against a fresh fit and still be kept"
        )
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
    # One after another: the first carry to a table registers the alignment, the rest reuse it.
    carried = [
        carry_or_refit(root, spec["ref"], spec["to_table"], tolerance=carry_tolerance)
        for spec in plan["carry"]
    ]
    for out in carried:
        refs.append(out["ref"])
        parents[out["ref"]] = out.get("transferred_from") or out["considered"]
        logger.info(
            "%s -> %s on the newer model's table: %s (held-out %s %.3f carried, %.3f refit, "
            "tolerance %.3f)",
            parents[out["ref"]],
            out["ref"],
            "kept the carried direction" if out["chosen"] == "carried" else "refit from scratch",
            out["metric"],
            out["carried"],
            out["refit"],
            carry_tolerance,
        )
    for skip in plan["skipped"]:
        logger.info("not refitting %s: %s", skip["ref"], skip["reason"])
    logger.info("refit %d direction(s): %s (%d cached)", len(refs), refs, len(cached))
    record_directions(root, refs, parents)
    return {
        "refit": refs,
        "cached": cached,
        "parents": parents,
        "skipped": plan["skipped"],
        "carried": carried,
    }
