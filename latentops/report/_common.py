"""Helpers shared by the report sections: headline metrics, images per item, short ids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from latentops.models import Autoencoder
from latentops.report.html import Note, Tiles
from latentops.report.images import decode, tile_png

# The held-out number a direction is judged by, in order of preference (same as the CLI).
HEADLINE = (
    ("auc", "AUC"),
    ("accuracy", "accuracy"),
    ("r2", "R²"),
    ("heldout_variance_ratio", "held-out var"),
    ("explained_variance_ratio", "explained var"),
    ("eigenvalue_share", "eigenvalue share"),
)


def headline(metrics: Mapping[str, Any]) -> tuple[str, float | None]:
    """(label, value) of a direction's held-out score; ("—", None) when it has none."""
    for key, label in HEADLINE:
        if key in metrics and metrics[key] is not None:
            return label, float(metrics[key])
    return "—", None


def short(text: str | None, n: int = 12) -> str:
    """First ``n`` characters of a hash or run id, with an ellipsis."""
    if not text:
        return "—"
    return text if len(text) <= n else text[:n] + "…"


def no_decoder(model: Autoencoder | None, card: Mapping[str, Any]) -> Note | None:
    """A note when the model cannot draw images (imported embeddings), else None."""
    if model is not None and model.capabilities.decodes:
        return None
    what = (
        "texts decode by retrieval, shown as sentences"
        if model is not None and (model.spec.input_kind == "text")
        else "imported embeddings have no images"
    )
    return Note(f"{card['ref']} ({card['arch']}) has no decoder: {what}.")


def item_images(
    model: Autoencoder,
    ids: Sequence[int],
    z: Mapping[int, np.ndarray],
    originals: Mapping[int, np.ndarray] | None,
) -> tuple[list[np.ndarray], str]:
    """Dataset images of ``ids`` when available, else reconstructions from their stored z."""
    if originals is not None and all(int(i) in originals for i in ids):
        return [originals[int(i)] for i in ids], "dataset images"
    decoded = decode(model, np.stack([z[int(i)] for i in ids]))  # (N, C, H, W)
    return list(decoded), "reconstructions decoded from the stored latents"


def tiles(
    images: Sequence[Sequence[np.ndarray | bytes | None]],
    caption: str = "",
    *,
    row_labels: Sequence[str] = (),
    col_labels: Sequence[str] = (),
    cell_labels: Sequence[Sequence[str]] = (),
    title: str = "",
    alt: str = "image",
    size: int = 56,
) -> Tiles:
    """A Tiles block from arrays (C, H, W) or stored PNG bytes (None leaves a cell empty)."""
    cells = tuple(
        tuple(None if x is None else x if isinstance(x, bytes) else tile_png(x) for x in row)
        for row in images
    )
    return Tiles(
        cells,
        row_labels=tuple(row_labels),
        col_labels=tuple(col_labels),
        cell_labels=tuple(tuple(r) for r in cell_labels),
        title=title,
        caption=caption,
        alt=alt,
        size=size,
    )
