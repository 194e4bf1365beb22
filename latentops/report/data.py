"""ReportData: everything the page shows, already queried from the store (pure values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ReportData:
    """Everything the page shows, already queried (arrays, dicts and lists of rows)."""

    store: str
    model: dict[str, Any]  # the model card (config, train, metrics with history)
    table: str | None = None
    table_card: dict[str, Any] = field(default_factory=dict)
    table_version: int | None = None
    table_history: list[dict[str, Any]] = field(default_factory=list)
    split_counts: list[dict[str, Any]] = field(default_factory=list)  # split, n
    n_rows: int = 0
    dataset_fingerprint: str | None = None
    factor_names: list[str] = field(default_factory=list)
    storage: dict[str, Any] = field(default_factory=dict)  # files, bytes, versions, pins
    dim_stats: list[dict[str, Any]] = field(default_factory=list)  # dim, mean, std, kl
    sample_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (N,)
    sample_z: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (N, d)
    directions: list[dict[str, Any]] = field(
        default_factory=list
    )  # ref, method, metrics, vector...
    cosine: np.ndarray | None = None  # (D, D) in the order of ``directions``
    tables: set[str] = field(default_factory=set)  # top-level tables that exist (edits, scores...)
    edits_summary: list[dict[str, Any]] | None = None  # per edit kind; None: no edits table
    edit_strips: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # ref -> rows
    source_texts: dict[int, str] = field(default_factory=dict)  # text tables: item -> sentence
    edit_scores: dict[str, list[dict[str, Any]]] | None = None  # ref -> latest run's rows
    disentanglement: list[dict[str, Any]] | None = None  # None: no scores table
    color_by: str | None = None
    map_z: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (M, d)
    map_colour: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,)
    neighbours: list[dict[str, Any]] = field(default_factory=list)  # query, rank, item_id, distance
    neighbour_z: dict[int, np.ndarray] = field(default_factory=dict)  # item_id -> z (d,)

    def summary(self) -> dict[str, Any]:
        """Headline counts (for the flow result and its Prefect artifact); None = not computed."""
        scored = self.edit_scores or {}
        return {
            "model": self.model["ref"],
            "table": self.table,
            "table_version": self.table_version,
            "rows": self.n_rows,
            "directions": len(self.directions),
            "edits": None
            if self.edits_summary is None
            else sum(r["edits"] for r in self.edits_summary),
            "scored_directions": None
            if self.edit_scores is None
            else sum(bool(v) for v in scored.values()),
            "disentanglement_metrics": None
            if self.disentanglement is None
            else len(self.disentanglement),
        }

    def image_ids(self) -> np.ndarray:
        """Item ids whose dataset images the page shows (samples, neighbour queries and hits)."""
        ids = [int(i) for i in self.sample_ids] + [int(r["item_id"]) for r in self.neighbours]
        ids += [int(r["query"]) for r in self.neighbours]
        return np.unique(np.asarray(ids, np.int64))
