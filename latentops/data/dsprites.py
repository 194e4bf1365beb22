"""Procedural dSprites: shapes rendered on demand from the full ground-truth factor grid.

The grid is shape(3) x scale(6, 0.5-1) x orientation(40, 0-2pi) x pos_x(32) x pos_y(32) =
737,280 items. ``item_id`` is the flat C-order index into that grid, so factors are recovered
from the id alone and pixels are rendered per batch: the full set is never held in memory.
"""

from __future__ import annotations

import numpy as np
import torch

from latentops.data._fingerprint import params_fingerprint
from latentops.data._render import SHAPES, render_shapes
from latentops.data.base import Dataset
from latentops.errors import InvalidInputError

_VERSION = 1  # bump whenever a rendered pixel could change
_RADIUS_AT_SCALE_1 = 0.15  # shape radius in image units (image width = 1) at scale 1
_MARGIN = 0.18  # centres span [margin, 1 - margin] so the largest rotated shape stays inside
IMAGE_SIZES = (16, 32, 64)

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = {"shape": 3, "scale": 6, "orientation": 40, "pos_x": 32, "pos_y": 32}
GRID_SHAPE = tuple(FACTOR_SIZES[f] for f in FACTOR_NAMES)
N_GRID = int(np.prod(GRID_SHAPE))  # 737,280

# physical value of each factor index (shape indexes SHAPES)
FACTOR_VALUES: dict[str, np.ndarray] = {
    "shape": np.arange(3, dtype=np.float64),
    "scale": np.linspace(0.5, 1.0, 6),
    "orientation": 2 * np.pi * np.arange(40) / 40,  # 2pi is 0 again, so it is left out
    "pos_x": np.linspace(0.0, 1.0, 32),
    "pos_y": np.linspace(0.0, 1.0, 32),
}
# lookup tables, so an item's pixels never depend on how a vectorised cos rounds in its batch
_COS = torch.from_numpy(np.cos(FACTOR_VALUES["orientation"])).float()
_SIN = torch.from_numpy(np.sin(FACTOR_VALUES["orientation"])).float()
_RADIUS = torch.from_numpy(_RADIUS_AT_SCALE_1 * FACTOR_VALUES["scale"]).float()
_CENTRE = torch.from_numpy(_MARGIN + (1 - 2 * _MARGIN) * FACTOR_VALUES["pos_x"]).float()


def _check_int(value: object, name: str, low: int, high: int, hint: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not low <= value <= high
    ):
        raise InvalidInputError(f"{name}={value!r} must be an integer in [{low}, {high}]; {hint}")
    return int(value)


def _grid_order(seed: int) -> np.ndarray:
    """One fixed seeded permutation of the whole grid; a subset of n items is its first n."""
    return np.random.default_rng(seed).permutation(N_GRID)


class DSprites(Dataset):
    """Procedural dSprites at 64x64 (or 32/16 for fast CPU runs); optionally a seeded subset.

    Subsets are nested: ``n_items=n`` holds the first n items of one seeded order of the grid,
    so a larger ``n_items`` (same seed) extends a smaller one and an encoded table grows.
    """

    factor_names = FACTOR_NAMES
    shape_names = SHAPES

    def __init__(self, image_size: int = 64, n_items: int | None = None, seed: int = 0) -> None:
        if image_size not in IMAGE_SIZES or isinstance(image_size, bool):
            raise InvalidInputError(
                f"image_size={image_size!r} is not supported; use one of {IMAGE_SIZES} "
                "(32 for fast CPU runs)"
            )
        self.image_size = int(image_size)
        self.seed = _check_int(seed, "seed", 0, 2**63 - 1, "pass a non-negative integer seed")
        if n_items is None:
            self._ids = np.arange(N_GRID, dtype=np.int64)
        else:
            n_items = _check_int(
                n_items, "n_items", 1, N_GRID, f"pass None for the full grid of {N_GRID:,} items"
            )
            self._ids = np.sort(_grid_order(self.seed)[:n_items]).astype(np.int64)
        self.name = "dsprites"
        self.n_items = len(self._ids)
        self.factor_sizes = dict(FACTOR_SIZES)
        self.x_shape = (1, self.image_size, self.image_size)
        # "order" names how a subset is drawn: the same (n_items, seed) drew other items before.
        subset = (
            None
            if n_items is None
            else {"n_items": n_items, "seed": self.seed, "order": "permutation-prefix"}
        )
        self.fingerprint = params_fingerprint(
            "dsprites",
            _VERSION,
            {
                "image_size": self.image_size,
                "subset": subset,
                "radius": _RADIUS_AT_SCALE_1,
                "margin": _MARGIN,
            },
        )

    def item_ids(self) -> np.ndarray:
        """Sorted flat grid indices of this dataset's items (all 737,280 without a subset)."""
        return self._ids

    def factors(self, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        """Integer factor indices (shape, scale, orientation, pos_x, pos_y) of ``item_ids``."""
        ids = self.check_item_ids(item_ids)
        columns = np.unravel_index(ids, GRID_SHAPE)
        return {name: col.astype(np.int64) for name, col in zip(FACTOR_NAMES, columns, strict=True)}

    def _load(self, item_ids: np.ndarray) -> torch.Tensor:
        shape, scale, orient, pos_x, pos_y = (
            torch.from_numpy(col.astype(np.int64)) for col in np.unravel_index(item_ids, GRID_SHAPE)
        )
        return render_shapes(
            shape,
            _RADIUS[scale],
            _COS[orient],
            _SIN[orient],
            _CENTRE[pos_x],
            _CENTRE[pos_y],
            self.image_size,
        )  # (B, 1, S, S)
