"""Deployments: a scheduled incremental encode, a refit on new table versions, a re-evaluate
on new direction versions.

``latentops serve`` builds these and serves them from one process; infra/prefect.yaml declares
the same three for ``prefect deploy`` onto a work pool.

    encode-new-items/<name>       interval or cron; each run encodes only items not in the
                                  table, then emits ``latentops.latents.updated`` if it added rows
    refit-directions/<name>       runs on that event (for this store): refits every direction
                                  fitted on an older version of its table (idempotent), and
                                  emits one ``latentops.direction.registered`` naming all
                                  its new versions (one re-evaluate run, not one per version)
    reevaluate-directions/<name>  runs on that event (for this store), when a judge is given:
                                  scores each direction's newest version the judge has not
                                  scored yet (idempotent)
    maintain-store/<name>         every ``maintain_interval`` s, when given: compacts,
                                  checkpoints and vacuums every table, keeping the newest,
                                  pinned and recent versions whole
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.events import DeploymentEventTrigger

from latentops.errors import InvalidInputError
from latentops.flows._lineage import DIRECTION_REGISTERED, LATENTS_UPDATED
from latentops.flows.encode import encode_flow
from latentops.flows.maintain import maintain_flow
from latentops.flows.params import EncodeSpec
from latentops.flows.reevaluate import ReevaluateSpec, reevaluate_flow
from latentops.flows.refit import refit_flow
from latentops.flows.runners import runner_for
from latentops.storage import Store
from latentops.storage.maintain import parse_age
from latentops.storage.models import trained_on


def dataset_for(
    card: dict[str, Any], dataset: str | None, options: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The dataset to encode and its options: the model's training data unless told otherwise."""
    trained_dataset, trained = trained_on(card)
    if dataset is None:
        dataset = "file" if card["arch"] == "identity" else trained_dataset
    same = dataset == trained_dataset or (dataset == "file" and card["arch"] == "identity")
    return dataset, {**(trained if same else {}), **options}


@flow(name="encode-new-items")
def encode_new_items(spec: EncodeSpec, store: str | None = None) -> dict[str, Any]:
    """Encode the items of ``spec``'s dataset that are not in its latent table yet."""
    opened = Store.open(store)
    root = str(opened.root)
    card = opened.models.card(spec.model)  # NAME follows the latest version
    dataset, options = dataset_for(card, spec.dataset, spec.options.as_dict())
    return encode_flow.with_options(task_runner=runner_for(spec.runner))(
        dataset=dataset,
        model=card["ref"],
        table=spec.table,
        store=root,
        dataset_options=options,
        chunk_size=spec.chunk_size,
        batch_size=spec.batch_size,
        device=spec.device,
    )


def build_deployments(
    spec: EncodeSpec,
    *,
    store: str | None = None,
    name: str = "latentops",
    interval: float | None = None,
    cron: str | None = None,
    refit: bool = True,
    reevaluate: ReevaluateSpec | None = None,
    maintain_interval: float | None = None,
    maintain_older_than: str = "7d",
) -> list[RunnerDeployment]:
    """The encode deployment (every ``interval`` s or on ``cron``), refit, re-evaluate, maintain.

    ``refit`` adds the refit deployment; ``reevaluate`` (a judge and its scorecard settings)
    adds the re-evaluate deployment; ``maintain_interval`` (seconds) adds maintain-store,
    which keeps every version newer than ``maintain_older_than`` (e.g. '7d').
    """
    if interval is not None and cron is not None:
        raise InvalidInputError("give an encode interval or a cron schedule, not both")
    if interval is not None and interval <= 0:
        raise InvalidInputError(f"encode interval {interval!r} must be > 0 seconds")
    if maintain_interval is not None and maintain_interval <= 0:
        raise InvalidInputError(
            f"maintain interval {maintain_interval!r} must be > 0 seconds, e.g. 86400 (daily)"
        )
    parse_age(maintain_older_than)
    opened = Store.open(store)
    root = str(opened.root)
    # Fail now, not at the first scheduled run: unknown model, runner or missing prefect-dask.
    opened.models.card(spec.model)
    runner_for(spec.runner)
    if reevaluate is not None:
        opened.judges.card(reevaluate.judge)  # unknown judge
        runner_for(reevaluate.runner)
    common: dict[str, Any] = {
        "name": name,
        "concurrency_limit": 1,
        "tags": ["latentops"],
        "entrypoint_type": EntrypointType.MODULE_PATH,
    }
    deployments = [
        encode_new_items.to_deployment(
            interval=interval,
            cron=cron,
            parameters={"spec": spec.model_dump(), "store": root},
            description=f"Encode new items with {spec.model} into store {root}",
            **common,
        )
    ]
    if refit:
        trigger = DeploymentEventTrigger(
            expect={LATENTS_UPDATED},
            match={"prefect.resource.id": "latentops.latents.*", "latentops.store": root},
            parameters={"table": None, "store": root},
        )
        deployments.append(
            refit_flow.to_deployment(
                triggers=[trigger],
                parameters={"table": None, "store": root},
                description=f"Refit stale directions when a latent table of {root} gains a version",
                **common,
            )
        )
    if reevaluate is not None:
        trigger = DeploymentEventTrigger(
            expect={DIRECTION_REGISTERED},
            match={"prefect.resource.id": "latentops.direction.*", "latentops.store": root},
            parameters={"spec": reevaluate.model_dump(), "store": root},
        )
        deployments.append(
            reevaluate_flow.to_deployment(
                triggers=[trigger],
                parameters={"spec": reevaluate.model_dump(), "store": root},
                description=(
                    f"Score new direction versions of {root} with judge {reevaluate.judge}"
                ),
                **common,
            )
        )
    if maintain_interval is not None:
        parameters = {"store": root, "older_than": maintain_older_than}
        deployments.append(
            maintain_flow.to_deployment(
                interval=maintain_interval,
                parameters=parameters,
                description=(
                    f"Compact and vacuum {root}, keeping pinned versions and the last "
                    f"{maintain_older_than}"
                ),
                **common,
            )
        )
    return deployments
