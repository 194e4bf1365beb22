"""Scores table: one row per (run, direction, strength, metric), each with its full protocol.

A metric name alone never identifies a computation: every row also carries the judge model
(name@version + weights sha256), the estimator, seed, strength grid, number of items, code
version and the remaining settings as JSON, and ``protocol_id``, a hash of all of them.
Rows with equal (metric, protocol_id) were computed the same way and may be compared.
Edit scorecards have kind "edit"; model-level disentanglement metrics have kind
"disentanglement" and no direction or strength; a method bake-off's ranking (one row per
candidate direction, ``latentops directions compare``) has kind "bakeoff".
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from latentops import __version__
from latentops.errors import InvalidInputError
from latentops.storage import _delta

KINDS = ("edit", "disentanglement", "bakeoff")

SCHEMA = pa.schema(
    [
        pa.field("score_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        ("kind", pa.string()),
        ("direction", pa.string()),  # name@version; null for model-level metrics
        ("strength", pa.float64()),  # null for per-direction summaries (slope, R², ...)
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("target", pa.string()),  # the judged attribute a direction is meant to move
        ("judge", pa.string()),  # evaluation model name@version
        ("judge_sha256", pa.string()),
        ("estimator", pa.string()),
        ("seed", pa.int64()),
        ("n_items", pa.int64()),
        ("strength_grid", pa.list_(pa.float64())),
        ("params_json", pa.string()),
        ("protocol_id", pa.string()),
        ("model", pa.string()),
        ("model_sha256", pa.string()),
        ("latent_table", pa.string()),
        ("latent_table_version", pa.int64()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("code_version", pa.string()),
    ]
)


@dataclass(frozen=True)
class Protocol:
    """How a group of scores was computed (shared by every metric of one call)."""

    estimator: str
    seed: int | None = None
    n_items: int | None = None
    strength_grid: tuple[float, ...] | None = None
    judge: str | None = None
    judge_sha256: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def protocol_id(self, metric: str) -> str:
        """Hash of the metric name and every setting: equal ids mean the same computation."""
        text = json.dumps(
            [
                metric,
                self.estimator,
                self.seed,
                self.n_items,
                self.strength_grid,
                self.judge,
                self.judge_sha256,
                dict(self.params),
                __version__,
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ScoreSource:
    """The run and the latent space the scores belong to."""

    run_id: str
    kind: str
    model: str
    model_sha256: str | None
    latent_table: str
    latent_table_version: int


@dataclass(frozen=True)
class Score:
    """One value: metric at (direction, strength), computed under ``protocol``."""

    metric: str
    value: float
    protocol: Protocol
    direction: str | None = None
    strength: float | None = None
    target: str | None = None


def build_score_rows(scores: Sequence[Score], source: ScoreSource) -> pa.Table:
    """Validate scores (finite values, known kind, unique keys) into an Arrow table."""
    if source.kind not in KINDS:
        raise InvalidInputError(f"score kind {source.kind!r} is not one of {KINDS}")
    rows, seen, now = [], set(), datetime.now(UTC)
    for s in scores:
        value = float(s.value)
        if not math.isfinite(value):
            raise InvalidInputError(
                f"score {s.metric!r} of {s.direction} at strength {s.strength} is {value}; "
                "leave an undefined score out instead of storing it"
            )
        key = json.dumps([source.run_id, s.direction, s.strength, s.metric])
        if key in seen:
            raise InvalidInputError(f"score {key} appears twice in one write; keys must be unique")
        seen.add(key)
        p = s.protocol
        rows.append(
            {
                "score_id": hashlib.sha256(key.encode()).hexdigest()[:32],
                "run_id": source.run_id,
                "kind": source.kind,
                "direction": s.direction,
                "strength": None if s.strength is None else float(s.strength),
                "metric": s.metric,
                "value": value,
                "target": s.target,
                "judge": p.judge,
                "judge_sha256": p.judge_sha256,
                "estimator": p.estimator,
                "seed": p.seed,
                "n_items": p.n_items,
                "strength_grid": None if p.strength_grid is None else list(p.strength_grid),
                "params_json": json.dumps(dict(p.params), sort_keys=True, default=str),
                "protocol_id": p.protocol_id(s.metric),
                "model": source.model,
                "model_sha256": source.model_sha256,
                "latent_table": source.latent_table,
                "latent_table_version": source.latent_table_version,
                "created_at": now,
                "code_version": __version__,
            }
        )
    return pa.Table.from_pylist(rows, schema=SCHEMA)


class ScoresTable:
    """Handle on the store's ``scores`` Delta table."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def exists(self) -> bool:
        """True once the first score has been written."""
        return _delta.exists(self.uri)

    def insert(self, rows: pa.Table, run_id: str) -> int:
        """Commit rows whose (run, direction, strength, metric) is new, atomically; return count."""
        if len(rows) == 0:
            return 0
        _delta.create(self.uri, SCHEMA, {"kind": "scores"}, run_id)
        match = "t.score_id = s.score_id AND t.run_id = s.run_id"
        return _delta.insert_new(self.uri, rows, match, run_id, "score")

    def read(self, *, run_id: str | None = None, kind: str | None = None) -> pa.Table:
        """Scores (optionally of one run / kind) sorted by direction, metric and strength."""
        if not self.exists():
            return SCHEMA.empty_table()
        where = {k: v for k, v in (("run_id", run_id), ("kind", kind)) if v is not None}
        table = _delta.read(_delta.open_table(self.uri, what="scores table"), where=where)
        return table.sort_by(
            [("direction", "ascending"), ("metric", "ascending"), ("strength", "ascending")]
        )
