"""Edit kinds: what an edit does to each item's z, as small picklable values (pure maths).

A direction edit, an interpolation, a coordinate traversal and a VQ code swap each turn the
latents of a chunk of items into blocks of edited latents with their strengths, steps and
own columns; the edit task decodes the blocks and writes them as rows of the edits table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch

from latentops.latent.edit import coordinate_traversal, direction_traversal
from latentops.latent.interpolate import interpolate
from latentops.latent.vq import codes_to_latents, quantize, swap_code


class Block(NamedTuple):
    """One block of M edits: kind, item_id (M,), z (M, d), strength (M,) or None, step (M,)."""

    kind: str
    item_id: np.ndarray
    z: np.ndarray
    strength: np.ndarray | None
    step: np.ndarray
    extra: dict[str, Any]  # the kind's own columns: direction, partner_id, dim, params


class EditAxis(NamedTuple):
    """A pinned direction as an edit needs it: unit vector, operation and strength unit.

    ``offsets`` (S,) are the latent distances of the edit's strengths along ``vector`` (the
    direction's ``offsets(strengths)``), ``unit`` what a strength of 1 means ("std" or "raw").
    """

    vector: np.ndarray
    operation: str
    offsets: np.ndarray
    unit: str


@dataclass(frozen=True)
class DirectionEdit:
    """z + offset(s) * v/|v| for every pinned direction ``name@v`` and strength s."""

    name: ClassVar[str] = "direction"
    directions: tuple[str, ...]
    strengths: tuple[float, ...]

    def blocks(
        self, ids: np.ndarray, z: np.ndarray, axes: Mapping[str, EditAxis]
    ) -> Iterator[Block]:
        """Blocks of z (N, d) edited along each direction; rows keep the strengths as given."""
        n, s = len(ids), len(self.strengths)
        for ref in self.directions:
            axis = axes[ref]
            v = torch.from_numpy(axis.vector.copy())
            offsets = np.asarray(axis.offsets, np.float64).tolist()  # (S,) latent distances
            walk = direction_traversal(torch.from_numpy(z), v, offsets)
            params = {"operation": axis.operation, "strength_unit": axis.unit}
            yield Block(
                self.name,
                np.tile(ids, s),
                walk.reshape(s * n, -1).numpy(),
                np.repeat(list(self.strengths), n),
                np.repeat(np.arange(s), n),
                {"direction": ref, "params": params},
            )


@dataclass(frozen=True)
class Interpolation:
    """``steps`` points (endpoints included) from item a to item b of each (a, b) pair."""

    name: ClassVar[str] = "interpolation"
    steps: int
    method: str  # lerp or slerp

    def blocks(self, pairs: np.ndarray, z0: np.ndarray, z1: np.ndarray) -> Iterator[Block]:
        """The paths between z0 (P, d) and z1 (P, d) of the (P, 2) id ``pairs``."""
        steps, p = self.steps, len(pairs)
        path = interpolate(torch.from_numpy(z0), torch.from_numpy(z1), steps, self.method)
        yield Block(
            self.name,
            np.tile(pairs[:, 0], steps),
            path.reshape(steps * p, -1).numpy(),  # (T*P, d)
            np.repeat(np.linspace(0.0, 1.0, steps), p),
            np.repeat(np.arange(steps), p),
            {
                "partner_id": np.tile(pairs[:, 1], steps),
                "params": {"method": self.method, "steps": steps},
            },
        )


@dataclass(frozen=True)
class Traversal:
    """Each latent dim in ``dims`` set to each value in turn (the traversal grid)."""

    name: ClassVar[str] = "traversal"
    dims: tuple[int, ...]
    values: tuple[float, ...]

    def blocks(self, ids: np.ndarray, z: np.ndarray) -> Iterator[Block]:
        """One block per traversed dim of z (N, d)."""
        n, k = len(ids), len(self.values)
        values = list(self.values)
        for j in self.dims:
            grid = coordinate_traversal(torch.from_numpy(z), j, values).reshape(k * n, -1)
            yield Block(
                self.name,
                np.tile(ids, k),
                grid.numpy(),
                np.repeat(values, n),
                np.repeat(np.arange(k), n),
                {"dim": np.full(k * n, j)},
            )


@dataclass(frozen=True)
class VqSwap:
    """VQ edits: code ``old`` replaced by ``new`` in each item's token map, per (old, new)."""

    name: ClassVar[str] = "vq_swap"
    swaps: tuple[tuple[int, int], ...]

    def blocks(
        self,
        ids: np.ndarray,
        z: np.ndarray,
        codebook: torch.Tensor,
        token_shape: tuple[int, int, int],
    ) -> Iterator[Block]:
        """One block per swap of z (N, D*h*w), with codebook (K, D) and token shape (D, h, w)."""
        zmap = torch.from_numpy(z).view(-1, *token_shape)  # (N, D, h, w), as the model flattens
        indices, _ = quantize(zmap, codebook.to(zmap.dtype))  # (N, h, w)
        for step, (old, new) in enumerate(self.swaps):
            edited = swap_code(indices, old, new, num_codes=codebook.shape[0])  # (N, h, w)
            replaced = (indices == old).flatten(1).sum(1).tolist()  # (N,) tokens changed
            yield Block(
                self.name,
                ids,
                codes_to_latents(edited, codebook).flatten(1).numpy(),  # (N, D*h*w)
                None,
                np.full(len(ids), step),
                {"params": [{"old": old, "new": new, "n_replaced": r} for r in replaced]},
            )


EditKind = DirectionEdit | Interpolation | Traversal | VqSwap
