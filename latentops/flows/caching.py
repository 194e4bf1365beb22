"""Cache policy for tasks: skip a call whose inputs are the same store versions as before.

A flow attaches it to a task (``task.with_options(cache_policy=InputVersions())``) when two
runs racing on the same plan must do the work once (see the refit flow).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext

from latentops import __version__
from latentops.storage import Store


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
