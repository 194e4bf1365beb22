"""The edit task: one chunk of items edited by one edit kind, decoded in batches, one commit.

The edit kinds (direction edit, interpolation, traversal, VQ swap) and their maths live in
``latentops.latent.edit_kinds``; this task loads what a kind needs from the store, decodes the
edited latents and writes the rows. One task call handles a whole chunk (every direction,
strength or step of it), so Prefect's per-call cost is paid per chunk, never per edit.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import torch
from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.latent.edit_kinds import (
    Block,
    DirectionEdit,
    EditAxis,
    EditKind,
    Interpolation,
    Traversal,
    VqSwap,
)
from latentops.models import (
    Autoencoder,
    DecodedTexts,
    TextDecoder,
    decode_batches,
    decode_with_fidelity,
    require,
)
from latentops.storage import Store
from latentops.storage.edits import EditSource, build_edit_rows, png_bytes
from latentops.storage.resources import is_text, load_decoder, load_text_decoder
from latentops.storage.snapshot import Snapshot
from latentops.tasks._common import RETRY, current_run_id


def _blocks(
    kind: EditKind, store: Store, snap: Snapshot, items: np.ndarray, net: Autoencoder | None
) -> Iterator[Block]:
    """The kind's edit blocks, given what it needs from the store and the model."""
    if isinstance(kind, DirectionEdit):
        found = (store.directions.get(ref)[0] for ref in kind.directions)
        axes = {
            r: EditAxis(d.vector, d.operation, d.offsets(kind.strengths), d.strength_unit)
            for r, d in zip(kind.directions, found, strict=True)
        }
        return kind.blocks(items, snap.z_of(items), axes)
    if isinstance(kind, Interpolation):
        return kind.blocks(items, snap.z_of(items[:, 0]), snap.z_of(items[:, 1]))
    if isinstance(kind, Traversal):
        return kind.blocks(items, snap.z_of(items))
    fix = f"latent table {snap.name!r} is not of a VQ model: use --direction instead"
    require(net, "codebook", f"{snap.card['model']} ({net.arch})", "a VQ code swap", fix)
    return kind.blocks(items, snap.z_of(items), net.codebook.cpu(), net.token_shape)


def thumbnails(
    net: Autoencoder | None, z: np.ndarray, dev: torch.device | None, batch_size: int
) -> list[bytes] | None:
    """PNG bytes of every decoded z (M, d), or None when not decoding."""
    if net is None or dev is None:
        return None
    return [
        png_bytes(img) for x in decode_batches(net, z, dev, batch_size) for img in x.cpu().numpy()
    ]


def sentences(
    retrieval: tuple[TextDecoder, Autoencoder] | None, block: Block
) -> DecodedTexts | None:
    """The block's edits decoded to sentences with their round-trip fidelity, or None."""
    if retrieval is None:
        return None
    decoder, encoder = retrieval
    # the source item is left out: an edit never decodes to its own sentence
    return decode_with_fidelity(decoder, encoder.encode, torch.from_numpy(block.z), block.item_id)


@task(cache_policy=NO_CACHE, **RETRY)
def edit_chunk(
    store_path: str,
    table: str,
    version: int,
    kind: EditKind,
    items: np.ndarray,
    *,
    batch_size: int = 512,
    device: str | None = None,
    images: bool = True,
) -> int:
    """Edit ``items`` (ids, or (P, 2) id pairs to interpolate) by ``kind``; commit; rows added."""
    store = Store.open(store_path)
    snap = store.snapshot(table, version)
    card = snap.card
    source = EditSource(
        card["model"], card.get("model_sha256"), table, snap.version, current_run_id()
    )
    # text latents decode by retrieving the table's nearest sentences, not through a decoder
    text = images and is_text(store, card)
    # a VQ swap needs the model's codebook even without images
    loaded = (images and not text) or isinstance(kind, VqSwap)
    net, dev = load_decoder(store, card, device) if loaded else (None, None)
    retrieval = load_text_decoder(store, snap, device) if text else None
    blocks = _blocks(kind, store, snap, items, net)
    draw = net if images and not text else None
    chunks = [
        build_edit_rows(
            b.kind,
            b.item_id,
            b.z,
            b.strength,
            b.step,
            source,
            **b.extra,
            png=thumbnails(draw, b.z, dev, batch_size),
            texts=sentences(retrieval, b),
        )
        for b in blocks
    ]
    return store.edits.insert(pa.concat_tables(chunks), source.run_id)
