"""Shared bits of the task layer: run ids, retry policy, cache keys, datasets by name."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from latentops import __version__
from latentops.data import Dataset, get_dataset, load_array_file
from latentops.errors import LatentOpsError, VersionConflictError
from latentops.evaluation import check_judge, resolve_target
from latentops.storage import Store, StoreAccessError
from latentops.storage.models import trained_on
from latentops.storage.resources import load_decoder


def current_run_id() -> str | None:
    """The Prefect flow-run id we are inside of, or None outside a flow."""
    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def retry_unless_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Retry transient failures (IO, commit races) but never LatentOpsError (bad input).

    Two LatentOpsErrors are transient: VersionConflictError (concurrent writers kept winning
    commit races) and StoreAccessError (the store's disk or object storage did not answer).
    """
    try:
        state.result()
    except (VersionConflictError, StoreAccessError):
        return True
    except LatentOpsError:
        return False
    except Exception:
        return True
    return False


# the retry policy of tasks that write once at the end (edits, scores)
RETRY = {"retries": 2, "retry_delay_seconds": [1, 5], "retry_condition_fn": retry_unless_bad_input}


def transient_retries(retries: int = 3, base_delay: float = 1.0) -> dict[str, Any]:
    """``@task``/``with_options`` kwargs: exponential backoff (base, 2x, 4x ...) with jitter.

    Jitter (up to +50% per delay) keeps workers that failed together on a shared store
    from retrying in lock step.
    """
    return {
        "retries": retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=base_delay),
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": retry_unless_bad_input,
    }


def _table_stamp(store: Store, table: str, version: int | None) -> dict[str, Any]:
    """What pins a latent table's content: version, its commit time, model and weights."""
    latents = store.latents(table)
    if not latents.exists():
        return {"table": table, "absent": True}
    version = latents.version if version is None else int(version)
    # The commit time tells a version of this table from the same number of a table
    # that was deleted and re-created under the same name.
    stamp = next((h["timestamp"] for h in latents.history() if h["version"] == version), None)
    card = latents.card
    return {
        "table": table,
        "version": version,
        "committed": None if stamp is None else stamp.isoformat(),
        "model": card.get("model"),
        "model_sha256": card.get("model_sha256"),
    }


def input_versions_key(task_name: str, inputs: Mapping[str, Any]) -> str | None:
    """Cache key of a task call from the versions it reads, never from array contents.

    ``store_path`` becomes the resolved store root, ``table`` (+ ``table_version``) the
    table's pinned version and commit time, ``model`` its ``name@version`` and weights
    sha256; every other input must be JSON (scalars, lists, dicts). Returns None, so the
    call is simply not cached, when an input is anything else (arrays, tensors).
    """
    parts: dict[str, Any] = {"task": task_name, "code": __version__}
    store = Store.open(inputs["store_path"], create=False) if "store_path" in inputs else None
    for key, value in inputs.items():
        if key == "store_path":
            parts[key] = str(store.root)
        elif key == "table" and store is not None:
            # The stamp resolves table_version (None = latest), so "latest" and "version N"
            # share a key while N is the latest.
            parts[key] = _table_stamp(store, value, inputs.get("table_version"))
        elif key == "table_version" and "table" in inputs:
            continue
        elif key == "model" and store is not None and value is not None:
            card = store.models.card(value)
            parts[key] = {"ref": card["ref"], "sha256": card["sha256"]}
        else:
            parts[key] = value
    try:
        blob = json.dumps(parts, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class InputVersions(CachePolicy):
    """Prefect cache policy keyed by input versions (see :func:`input_versions_key`).

    A task cached this way is skipped when it is called again on the same store, table
    version, model weights and parameters; a new table version or model version misses.
    """

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """The cache key of one task call."""
        return input_versions_key(task_ctx.task.name, inputs)


def open_dataset(name: str, options: dict[str, Any]) -> Dataset:
    """Built-in datasets by name; ``file`` means a user Parquet/.npy file (``path`` option)."""
    if name == "file":
        return load_array_file(**options)
    return get_dataset(name, **options)


def real_images(model_card: dict[str, Any]) -> Dataset:
    """The dataset that renders a table's real images: the model's training data, unsubset.

    ``n_items`` only picks a subset of the same items, and a later encode may have used a
    larger one than training did (a served encode that grows the table); every item id
    renders the same pixels without it.
    """
    name, options = trained_on(model_card)
    return open_dataset(name, {k: v for k, v in options.items() if k != "n_items"})


def check_evaluation(
    store: Store, card: dict[str, Any], judge: str, refs: list[str], target: str | None
) -> tuple[str, dict[str, str]]:
    """Before any write: the judge fits the model's images and sees every direction's target."""
    net, _ = load_decoder(store, card, "cpu")
    judge_card = store.judges.card(judge)
    check_judge(judge_card, store.models.card(card["model"]), net.x_shape)
    targets = {}
    for ref in refs:
        _, lineage, _ = store.directions.get(ref)
        targets[ref] = resolve_target(target, lineage.label_spec, judge_card["factors"], ref)[2]
    return judge_card["ref"], targets
