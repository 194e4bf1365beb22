"""Shared bits of the task layer: run ids, retry policy, cache keys, per-process model cache."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from latentops import __version__
from latentops.data import Dataset, get_dataset, load_array_file
from latentops.errors import LatentOpsError, VersionConflictError
from latentops.models import Autoencoder, fit_batch_size, parse_batch_size, pick_device
from latentops.storage import Store, StoreAccessError


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


@lru_cache(maxsize=4)
def _load(store_root: str, ref: str, sha256: str, device: str) -> tuple[Autoencoder, dict]:
    # sha256 is part of the key so a re-registered name never serves stale weights.
    return Store.open(store_root).models.load(ref, device)


def load_model(
    store: Store, ref: str, device: str | None
) -> tuple[Autoencoder, dict, torch.device]:
    """Load ``ref`` once per worker process and device (later calls hit the cache)."""
    card = store.models.card(ref)
    dev = pick_device(device)
    model, card = _load(str(store.root), card["ref"], card["sha256"], str(dev))
    return model, card, dev


# One probe at a time: peak-memory counters are per device, shared by every thread.
_PROBE_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _fitted_batch(store_root: str, ref: str, sha256: str, device: str) -> int:
    # Keyed like _load: new weights under a re-registered name, or another device, re-probe.
    model, _ = _load(store_root, ref, sha256, device)
    return fit_batch_size(model, device=device)


def resolve_batch_size(store: Store, ref: str, device: str | None, batch_size: int | str) -> int:
    """``batch_size`` as an int; "auto" is fitted to free memory once per process and device.

    The fit is kept for the life of the worker process, like the model it was probed with; a
    long-lived worker whose GPU is later shared should be given a fixed batch size instead.
    """
    value = parse_batch_size(batch_size)
    if value != "auto":
        return value
    card = store.models.card(ref)
    with _PROBE_LOCK:
        return _fitted_batch(str(store.root), card["ref"], card["sha256"], str(pick_device(device)))


def open_dataset(name: str, options: dict[str, Any]) -> Dataset:
    """Built-in datasets by name; ``file`` means a user Parquet/.npy file (``path`` option)."""
    if name == "file":
        return load_array_file(**options)
    return get_dataset(name, **options)
