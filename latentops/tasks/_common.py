"""Shared bits of the Prefect task layer: run ids, retry policy, per-process model cache."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch
from prefect.runtime import flow_run

from latentops.data import Dataset, get_dataset, load_array_file
from latentops.errors import LatentOpsError
from latentops.models import Autoencoder, pick_device
from latentops.storage import Store


def current_run_id() -> str | None:
    """The Prefect flow-run id we are inside of, or None outside a flow."""
    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def retry_unless_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Retry transient failures (IO, commit races) but never LatentOpsError (bad input)."""
    try:
        state.result()
    except LatentOpsError:
        return False
    except Exception:
        return True
    return False


@lru_cache(maxsize=4)
def _load(store_root: str, ref: str, sha256: str, device: str) -> tuple[Autoencoder, dict]:
    # sha256 is part of the key so a re-registered name never serves stale weights.
    return Store.open(store_root).models.load(ref, device)


def load_model(store: Store, ref: str, device: str | None) -> tuple[Autoencoder, dict, torch.device]:
    """Load ``ref`` once per worker process and device (later calls hit the cache)."""
    card = store.models.card(ref)
    dev = pick_device(device)
    model, card = _load(str(store.root), card["ref"], card["sha256"], str(dev))
    return model, card, dev


def open_dataset(name: str, options: dict[str, Any]) -> Dataset:
    """Built-in datasets by name; ``file`` means a user Parquet/.npy file (``path`` option)."""
    if name == "file":
        return load_array_file(**options)
    return get_dataset(name, **options)
