"""Edit flows: direction edits, interpolations, coordinate traversals and VQ code swaps.

Each flow pins the latent table version once, validates everything (directions in the same
latent space, grids, items) before the first write, then fans one edit task per chunk of
items out over the flow's task runner (``parallel`` in flight; default one per Dask worker
thread, else one), so ``edit_flow.with_options(task_runner=make_task_runner("dask"))``
shards the edits over a Dask cluster with the same rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import flow, get_run_logger

from latentops._validate import check_grid, check_positive_ints, is_int
from latentops.errors import InvalidInputError
from latentops.flows.runners import fan_out
from latentops.latent.edit_kinds import (
    DirectionEdit,
    EditKind,
    Interpolation,
    Traversal,
    VqSwap,
)
from latentops.storage import Store
from latentops.storage.snapshot import Snapshot
from latentops.tasks.edit import edit_chunk

DEFAULT_STRENGTHS = (-3.0, -1.5, 0.0, 1.5, 3.0)
DEFAULT_TRAVERSAL = (-2.0, -1.0, 0.0, 1.0, 2.0)


def _run(
    store: Store,
    snap: Snapshot,
    kind: EditKind,
    items: np.ndarray,
    per_chunk: int,
    task_options: dict[str, Any],
    parallel: int | None,
    progress: bool,
    **summary: Any,
) -> dict[str, Any]:
    """Fan ``kind`` over ``items`` in chunks of ``per_chunk`` through the task runner; summary."""
    name = kind.name
    root, table = str(store.root), snap.name
    chunks = [items[start : start + per_chunk] for start in range(0, len(items), per_chunk)]
    calls = [(len(c), (root, table, snap.version, kind, c), task_options) for c in chunks]
    written = sum(
        fan_out(
            edit_chunk,
            calls,
            description=f"{name} edits {table}",
            total=len(items),
            parallel=parallel,
            progress=progress,
        )
    )
    get_run_logger().info("%s edits of %s v%d: %d new rows", name, table, snap.version, written)
    return {
        "kind": name,
        "table": table,
        "table_version": snap.version,
        "written": written,
        "edits_uri": store.edits.uri,
        **summary,
    }


def _pin(
    store: str | None, table: str, version: int | None, chunk_size: int, batch_size: int
) -> tuple[Store, Snapshot]:
    """The opened store and the pinned table version, after the shared size checks."""
    opened = Store.open(store)
    check_positive_ints(chunk_size=chunk_size, batch_size=batch_size)
    return opened, opened.snapshot(table, version)


@flow(name="edit")
def edit_flow(
    table: str,
    directions: list[str],
    *,
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
    parallel: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Edit the selected items along each direction at each strength; write the edits table.

    A strength is in the direction's ``strength_unit``: for fitted directions 1 means one
    standard deviation of the data along it ("std"), for manual/imported ones one latent
    unit ("raw"); the edits rows keep the strength as given and record the unit in params.
    """
    grid = check_grid(DEFAULT_STRENGTHS if strengths is None else strengths, "strengths")
    opened, snap = _pin(store, table, table_version, chunk_size, batch_size)
    refs = opened.directions.pin(directions, snap)
    ids = snap.select(where=where, sample=sample, seed=seed)
    kind = DirectionEdit(tuple(refs), tuple(grid))
    units = {ref: opened.directions.get(ref)[0].strength_unit for ref in refs}
    options = {"batch_size": batch_size, "device": device, "images": images}
    return _run(
        opened,
        snap,
        kind,
        ids,
        chunk_size,
        options,
        parallel,
        progress,
        directions=refs,
        strengths=grid,
        strength_units=units,
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
    *,
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
    parallel: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Interpolate (lerp/slerp, ``steps`` points) between item pairs; write the edits table."""
    opened, snap = _pin(store, table, table_version, chunk_size, batch_size)
    if method not in ("lerp", "slerp"):
        raise InvalidInputError(f"method={method!r} is unknown; use lerp or slerp")
    if not is_int(steps, 2):
        raise InvalidInputError(f"steps={steps!r} must be an int >= 2 (both endpoints included)")
    if not pairs:
        check_positive_ints(n_pairs=n_pairs)
    chosen = _pairs(snap.select(where=where, seed=seed), pairs, n_pairs, seed)
    snap.positions(chosen.reshape(-1))  # every id must exist before anything is written
    options = {"batch_size": batch_size, "device": device, "images": images}
    return _run(
        opened,
        snap,
        Interpolation(steps, method),
        chosen,
        max(1, chunk_size // steps),
        options,
        parallel,
        progress,
        method=method,
        steps=steps,
        pairs=chosen.tolist(),
    )


@flow(name="traverse")
def traverse_flow(
    table: str,
    *,
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
    parallel: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """The classic traversal grid: every latent dim (or ``dims``) set to each value, per item."""
    grid = check_grid(DEFAULT_TRAVERSAL if values is None else values, "values")
    opened, snap = _pin(store, table, table_version, chunk_size, batch_size)
    d = snap.d
    dims = list(range(d)) if dims is None else [int(j) for j in dims]
    bad = [j for j in dims if not 0 <= j < d]
    if bad or not dims or len(set(dims)) != len(dims):
        raise InvalidInputError(
            f"dims={dims!r} must be distinct latent dims in 0..{d - 1} of {table!r}"
        )
    ids = snap.select(where=where, sample=sample, seed=seed)
    options = {"batch_size": batch_size, "device": device, "images": images}
    return _run(
        opened,
        snap,
        Traversal(tuple(dims), tuple(grid)),
        ids,
        max(1, chunk_size // (len(grid) * len(dims))),
        options,
        parallel,
        progress,
        dims=dims,
        values=grid,
        n_items=int(len(ids)),
    )


@flow(name="vq-edit")
def vq_edit_flow(
    table: str,
    swaps: list[tuple[int, int]],
    *,
    where: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    store: str | None = None,
    table_version: int | None = None,
    chunk_size: int = 1024,
    batch_size: int = 512,
    device: str | None = None,
    images: bool = True,
    parallel: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """VQ-VAE edits: swap code ``old`` for ``new`` in every selected item's token map."""
    opened, snap = _pin(store, table, table_version, chunk_size, batch_size)
    pairs = [(int(old), int(new)) for old, new in swaps]
    if not pairs or any(old == new for old, new in pairs):
        raise InvalidInputError(f"swaps={swaps!r} must be non-empty OLD:NEW pairs with OLD != NEW")
    ids = snap.select(where=where, sample=sample, seed=seed)
    options = {"batch_size": batch_size, "device": device, "images": images}
    return _run(
        opened,
        snap,
        VqSwap(tuple(pairs)),
        ids,
        chunk_size,
        options,
        parallel,
        progress,
        swaps=pairs,
        n_items=int(len(ids)),
    )
