"""Per-worker resources: models, decoders and judges loaded once per process and device.

Flows ship only names to their tasks; a task on any worker asks here for what it needs, so
a Dask worker loads a model's weights once however many chunks it runs. Every cache is keyed
by the weights' sha256 as well as the name, so a re-registered name never serves stale
weights. ``clear()`` empties them all, pinned table snapshots included (tests, or a
long-lived worker that must let go of memory).
"""

from __future__ import annotations

import copy
import threading
from functools import lru_cache
from typing import Any

import torch

from latentops.errors import InvalidInputError
from latentops.evaluation import AttributePredictor
from latentops.models import (
    Autoencoder,
    RetrievalDecoder,
    fast_layout,
    fit_batch_size,
    parse_batch_size,
    pick_device,
    require,
)
from latentops.storage import snapshot
from latentops.storage.snapshot import Snapshot
from latentops.storage.store import Store

# One probe at a time: peak-memory counters are per device, shared by every thread.
_PROBE_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _load(store_root: str, ref: str, sha256: str, device: str) -> tuple[Autoencoder, dict]:
    return Store.open(store_root).models.load(ref, device)


@lru_cache(maxsize=4)
def _decoder(store_root: str, ref: str, sha256: str, device: str) -> Autoencoder:
    # a copy: the encoder's cached model keeps its own layout
    net, _ = _load(store_root, ref, sha256, device)
    return fast_layout(copy.deepcopy(net))


@lru_cache(maxsize=4)
def _judge(store_root: str, ref: str, sha256: str, device: str) -> tuple[AttributePredictor, dict]:
    judge, card = Store.open(store_root).judges.load(ref, device)
    return fast_layout(judge), card


@lru_cache(maxsize=4)
def _fitted_batch(store_root: str, ref: str, sha256: str, device: str) -> int:
    # Keyed like _load: new weights under a re-registered name, or another device, re-probe.
    model, _ = _load(store_root, ref, sha256, device)
    return fit_batch_size(model, device=device)


def load_model(
    store: Store, ref: str, device: str | None
) -> tuple[Autoencoder, dict[str, Any], torch.device]:
    """Model ``ref`` on the best (or given) device, its card and the device; once per process."""
    card = store.models.card(ref)
    dev = pick_device(device)
    model, card = _load(str(store.root), card["ref"], card["sha256"], str(dev))
    return model, card, dev


def load_decoder(
    store: Store, card: dict[str, Any], device: str | None
) -> tuple[Autoencoder, torch.device]:
    """A latent table's model in the fast layout; refuses models without a decoder."""
    net, model_card, dev = load_model(store, card["model"], device)
    fix = "edit it without images (--no-images) or use a model that decodes"
    require(net, "decodes", f"{card['model']} ({model_card['arch']})", "decoding", fix)
    return _decoder(str(store.root), model_card["ref"], model_card["sha256"], str(dev)), dev


def is_text(store: Store, card: dict[str, Any]) -> bool:
    """True when a latent table's model encodes texts (its edits decode by retrieval)."""
    return store.models.spec(store.models.card(card["model"])).input_kind == "text"


def load_text_decoder(
    store: Store, snap: Snapshot, device: str | None
) -> tuple[RetrievalDecoder, Autoencoder]:
    """A text table's retrieval decoder over its own sentences, and its encoder (round trips)."""
    if "text" not in snap.rows.column_names:
        raise InvalidInputError(
            f"latent table {snap.name!r} has no text column to retrieve sentences from; "
            "encode a text dataset (reviews, texts) with a text model"
        )
    net, _, _ = load_model(store, snap.card["model"], device)
    texts = snap.rows["text"].to_pylist()
    return RetrievalDecoder(snap.matrix("cosine"), snap.ids, texts), net


def load_judge(store: Store, ref: str, dev: torch.device) -> tuple[AttributePredictor, dict]:
    """Judge ``ref`` on ``dev`` in the fast layout, with its card; once per process."""
    card = store.judges.card(ref)
    return _judge(str(store.root), card["ref"], card["sha256"], str(dev))


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


def clear() -> None:
    """Drop every loaded model, decoder, judge, fitted batch size and table snapshot."""
    for cache in (_load, _decoder, _judge, _fitted_batch):
        cache.cache_clear()
    snapshot.clear()
