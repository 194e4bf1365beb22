"""Tie store versions to Prefect runs: a table artifact per write and an event deployments react to.

Delta commits already carry ``latentops.run_id`` (table version -> flow run); these give the
other direction (flow run -> table version) in the Prefect UI and let deployments trigger on
"latent table gained a version" / "direction gained a version".
"""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_table_artifact
from prefect.events import emit_event

from latentops.flows.artifacts import artifact_key

LATENTS_UPDATED = "latentops.latents.updated"
DIRECTION_REGISTERED = "latentops.direction.registered"


def record_latents_version(
    root: str, table: str, version: int, written: int, model: str, what: str = "rows_added"
) -> None:
    """Artifact + event for a latent table that gained ``written`` rows (``what``: or
    labelled them, "rows_labelled") at ``version``."""
    row = {"store": root, "table": table, "version": version, what: written, "model": model}
    create_table_artifact(
        [row],
        key=artifact_key("latents", table),
        description=f"latent table `{table}` is at version {version} after this run",
    )
    emit_event(
        LATENTS_UPDATED,
        resource={
            "prefect.resource.id": f"latentops.latents.{table}",
            "prefect.resource.name": table,
            "latentops.store": root,
            "latentops.table": table,
            "latentops.version": str(version),
        },
        payload={what: written, "model": model},
    )


def record_directions(
    root: str, refs: list[str], parents: dict[str, Any], source: str = "refit"
) -> None:
    """Artifact + ONE event naming every direction version a ``source`` (fit, refit) run made.

    One event per run, not per version: a refit of N directions would otherwise queue N
    re-evaluate runs, N - 1 of which find nothing left to do.
    """
    if not refs:
        return
    create_table_artifact(
        [{"store": root, "direction": ref, "parent": parents.get(ref)} for ref in refs],
        key=artifact_key("directions", source),
        description=f"{len(refs)} direction version(s) registered by this run",
    )
    emit_event(
        DIRECTION_REGISTERED,
        resource={
            "prefect.resource.id": f"latentops.direction.{source}",
            "prefect.resource.name": ", ".join(refs),
            "latentops.store": root,
            "latentops.refs": " ".join(refs),
            "latentops.count": str(len(refs)),
        },
        related=[
            {
                "prefect.resource.id": f"latentops.direction.{ref.partition('@')[0]}",
                "prefect.resource.role": "direction",
                "prefect.resource.name": ref,
            }
            for ref in refs
        ],
        payload={"refs": refs, "parents": {ref: parents.get(ref) for ref in refs}},
    )


def record_scorecards(root: str, judge: str, runs: dict[str, str]) -> None:
    """Artifact naming the evaluate run that scored each direction version with ``judge``."""
    if not runs:
        return
    create_table_artifact(
        [
            {"store": root, "direction": ref, "judge": judge, "run_id": run}
            for ref, run in runs.items()
        ],
        key=artifact_key("scorecards", judge),
        description=f"{len(runs)} direction version(s) scored with {judge} by this run",
    )
