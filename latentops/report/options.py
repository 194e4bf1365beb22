"""ReportOptions: how much the report shows (items per strip, strength grids, map size)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from latentops._validate import is_int
from latentops.errors import InvalidInputError

_COUNTS = {  # field -> (min, max): small images keep the page a few MB
    "n_items": (1, 12),
    "n_recon": (1, 24),
    "max_dims": (1, 64),
    "max_directions": (1, 64),
    "n_pairs": (1, 8),
    "steps": (2, 16),
    "map_points": (3, 50_000),
    "n_queries": (1, 8),
    "k": (1, 12),
}


@dataclass(frozen=True)
class ReportOptions:
    """Report sizes and grids; frozen, hashable and JSON-round-trippable for flow parameters."""

    n_items: int = 4  # items per direction strip and traversal grid
    n_recon: int = 8  # reconstruction samples
    strengths: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)  # decoded strips
    traversal_values: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    max_dims: int = 10  # traversal grids for the most active dims (by KL, else std)
    max_directions: int = 12
    n_pairs: int = 3  # interpolation pairs
    steps: int = 8  # interpolation points, endpoints included
    map_points: int = 3000  # latents on the 2-D map
    color_by: str | None = None  # factor column colouring the map (default: the first)
    projection: str = "auto"  # auto (UMAP if installed, else PCA), pca, umap
    n_queries: int = 3  # nearest-neighbour query items
    k: int = 5  # neighbours per query

    def __post_init__(self) -> None:
        for name, (lo, hi) in _COUNTS.items():
            value = getattr(self, name)
            if not is_int(value) or not lo <= value <= hi:
                raise InvalidInputError(
                    f"report option {name}={value!r} must be an int in [{lo}, {hi}]"
                )
        for name in ("strengths", "traversal_values"):
            grid = getattr(self, name)
            try:
                values = tuple(float(v) for v in grid)
            except (TypeError, ValueError):
                values = ()
            if not 1 <= len(values) <= 12 or not all(math.isfinite(v) for v in values):
                raise InvalidInputError(
                    f"report option {name}={grid!r} must be 1-12 finite numbers, e.g. -3,0,3"
                )
            object.__setattr__(self, name, values)
        if self.projection not in ("auto", "pca", "umap"):
            raise InvalidInputError(
                f"projection={self.projection!r} is unknown; use auto, pca or umap"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> ReportOptions:
        """Options from a (partial) dict, refusing unknown keys."""
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidInputError(f"unknown report options {unknown}; known: {sorted(known)}")
        return cls(**values)
