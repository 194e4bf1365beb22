"""Edit flows: direction edits, interpolations, coordinate traversals and VQ code swaps.

Each flow pins the latent table version once, validates everything (directions in the same
latent space, grids, items) before the first write, then runs one task per chunk of items.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import flow, get_run_logger

from latentops._progress import progress_bar
from latentops._validate import check_positive_ints
from latentops.errors import InvalidInputError
from latentops.storage import Store
from latentops.tasks.edit import (
    DEFAULT_STRENGTHS,
    check_grid,
    edit_chunk,
    interpolate_chunk,
    pin_snapshot,
    resolve_directions,
    select_items,
    traverse_chunk,
    vq_swap_chunk,
)

DEFAULT_TRAVERSAL = (-2.0, -1.0, 0.0, 1.0, 2.0)


def _summary(
    root: str, kind: str, table: str, version: int, written: int, **extra: Any
) -> dict[str, Any]:
    edits = Store.open(root).table_uri("edits")
    get_run_logger().info("%s edits of %s v%d: %d new rows", kind, table, version, written)
    return {
        "kind": kind,
        "table": table,
        "table_version": version,
        "written": written,
        "edits_uri": edits,
        **extra,
    }


@flow(name="edit")
def edit_flow(
    table: str,
    directions: list[str],
    strengths: list[float] | None = None,
    where: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    store: str | None = None,
    table_version: int | None = None,
    chunk_size: int = 1024,
    batch_size: int = 512,
    device: str | None = None,
    images: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Edit the selected items along each direction at each strength; write the edits table."""
    opened = Store.open(store)
    root = str(opened.root)
    grid = check_grid(DEFAULT_STRENGTHS if strengths is None else strengths, "strengths")
    check_positive_ints(chunk_size=chunk_size, batch_size=batch_size)
    snap, card = pin_snapshot(opened, table, table_version)
    refs = resolve_directions(opened, directions, card, table)
    ids = select_items(snap, where, sample, seed)

    written = 0
    with progress_bar(f"edit {table}", len(ids), progress) as bar:
        for start in range(0, len(ids), chunk_size):
            chunk = ids[start : start + chunk_size]
            written += edit_chunk(
                root, table, snap.version, refs, chunk, grid, batch_size, device, images
            )
            bar.advance(len(chunk))
    return _summary(
        root,
        "direction",
        table,
        snap.version,
        written,
        directions=refs,
        strengths=grid,
        n_items=int(len(ids)),
    )


def _pairs(
    ids: np.ndarray, pairs: list[tuple[int, int]] | None, n_pairs: int, seed: int
) -> np.ndarray:
    """Explicit (a, b) pairs, or ``n_pairs`` random pairs of distinct selected items."""
    if pairs:
        out = np.asarray(pairs, dtype=np.int64)
        if out.ndim != 2 or out.shape[1] != 2:
            raise InvalidInputError(f"pairs must be (a, b) item id pairs, got shape {out.shape}")
        return out
    if len(ids) < 2:
        raise InvalidInputError(f"interpolation needs at least 2 selected items, got {len(ids)}")
    rng = np.random.default_rng(seed)
    a = rng.choice(ids, size=n_pairs)  # (P,)
    b = rng.choice(ids, size=n_pairs)  # (P,)
    same = a == b
    while same.any():  # an item interpolated with itself is a constant path
        b[same] = rng.choice(ids, size=int(same.sum()))
        same = a == b
    return np.stack([a, b], axis=1)


@flow(name="interpolate")
def interpolate_flow(
    table: str,
    pairs: list[tuple[int, int]] | None = None,
    n_pairs: int = 8,
    steps: int = 8,
    method: str = "slerp",
    where: str | None = None,
    seed: int = 0,
    store: str | None = None,
    table_version: int | None = None,
    chunk_size: int = 1024,
    batch_size: int = 512,
    device: str | None = None,
    images: bool = True,
) -> dict[str, Any]:
    """Interpolate (lerp/slerp, ``steps`` points) between item pairs; write the edits table."""
    opened = Store.open(store)
    root = str(opened.root)
    check_positive_ints(chunk_size=chunk_size, batch_size=batch_size)
    if method not in ("lerp", "slerp"):
        raise InvalidInputError(f"method={method!r} is unknown; use lerp or slerp")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise InvalidInputError(f"steps={steps!r} must be an int >= 2 (both endpoints included)")
    if not pairs and (isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 1):
        raise InvalidInputError(f"n_pairs={n_pairs!r} must be a positive int")
    snap, _ = pin_snapshot(opened, table, table_version)
    chosen = _pairs(select_items(snap, where, None, seed), pairs, n_pairs, seed)
    snap.positions(chosen.reshape(-1))  # every id must exist before anything is written

    written = 0
    per_chunk = max(1, chunk_size // steps)
    for start in range(0, len(chosen), per_chunk):
        block = chosen[start : start + per_chunk]
        written += interpolate_chunk(
            root, table, snap.version, block, steps, method, batch_size, device, images
        )
    return _summary(
        root,
        "interpolation",
        table,
        snap.version,
        written,
        method=method,
        steps=steps,
        pairs=chosen.tolist(),
    )


@flow(name="traverse")
def traverse_flow(
    table: str,
    values: list[float] | None = None,
    dims: list[int] | None = None,
    where: str | None = None,
    sample: int | None = 8,
    seed: int = 0,
    store: str | None = None,
    table_version: int | None = None,
    chunk_size: int = 1024,
    batch_size: int = 512,
    device: str | None = None,
    images: bool = True,
) -> dict[str, Any]:
    """The classic traversal grid: every latent dim (or ``dims``) set to each value, per item."""
    opened = Store.open(store)
    root = str(opened.root)
    grid = check_grid(DEFAULT_TRAVERSAL if values is None else values, "values")
    check_positive_ints(chunk_size=chunk_size, batch_size=batch_size)
    snap, card = pin_snapshot(opened, table, table_version)
    d = int(card["d"])
    dims = list(range(d)) if dims is None else [int(j) for j in dims]
    bad = [j for j in dims if not 0 <= j < d]
    if bad or not dims or len(set(dims)) != len(dims):
        raise InvalidInputError(
            f"dims={dims!r} must be distinct latent dims in 0..{d - 1} of {table!r}"
        )
    ids = select_items(snap, where, sample, seed)

    written = 0
    per_chunk = max(1, chunk_size // (len(grid) * len(dims)))
    for start in range(0, len(ids), per_chunk):
        chunk = ids[start : start + per_chunk]
        written += traverse_chunk(
            root, table, snap.version, chunk, dims, grid, batch_size, device, images
        )
    return _summary(
        root,
        "traversal",
        table,
        snap.version,
        written,
        dims=dims,
        values=grid,
        n_items=int(len(ids)),
    )


@flow(name="vq-edit")
def vq_edit_flow(
    table: str,
    swaps: list[tuple[int, int]],
    where: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    store: str | None = None,
    table_version: int | None = None,
    chunk_size: int = 1024,
    batch_size: int = 512,
    device: str | None = None,
    images: bool = True,
) -> dict[str, Any]:
    """VQ-VAE edits: swap code ``old`` for ``new`` in every selected item's token map."""
    opened = Store.open(store)
    root = str(opened.root)
    check_positive_ints(chunk_size=chunk_size, batch_size=batch_size)
    pairs = [(int(old), int(new)) for old, new in swaps]
    if not pairs or any(old == new for old, new in pairs):
        raise InvalidInputError(f"swaps={swaps!r} must be non-empty OLD:NEW pairs with OLD != NEW")
    snap, _ = pin_snapshot(opened, table, table_version)
    ids = select_items(snap, where, sample, seed)

    written = 0
    for start in range(0, len(ids), chunk_size):
        chunk = ids[start : start + chunk_size]
        written += vq_swap_chunk(
            root, table, snap.version, chunk, pairs, batch_size, device, images
        )
    return _summary(
        root, "vq_swap", table, snap.version, written, swaps=pairs, n_items=int(len(ids))
    )
