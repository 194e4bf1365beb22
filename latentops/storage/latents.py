"""Latent tables: one Delta table per latent space, keyed by item_id, exactly-once writes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from latentops import __version__
from latentops._validate import check_latents
from latentops.errors import InvalidInputError
from latentops.storage import _delta

VECTOR = pa.list_(pa.float32())
TEST_PERCENT = 20  # share of items in the held-out "test" split
SAMPLED = "sampled from prior"  # the card's "source" of a table of prior samples, not encodings
JUDGE_KEY = b"latentops.judge"  # field metadata of a label column a judge filled: its ref
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Lineage:
    """Where a batch of rows came from; stored on every row."""

    model: str
    model_sha256: str
    dataset: str
    dataset_fingerprint: str
    run_id: str | None = None


def assign_split(item_id: np.ndarray) -> np.ndarray:
    """Deterministic train/test split by a splitmix64 hash of item_id (stable across runs)."""
    x = item_id.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return np.where(x % np.uint64(100) < TEST_PERCENT, "test", "train")


def _factor_type(values: np.ndarray) -> pa.DataType:
    if values.dtype.kind in "iub":
        return pa.int64()
    if values.dtype.kind == "f":
        return pa.float64()
    return pa.string()


def latent_schema(factors: Mapping[str, np.ndarray], with_logvar: bool) -> pa.Schema:
    """Schema of a latent table with the given factor/label columns (names checked)."""
    check_factor_names(list(factors))
    fields = [pa.field("item_id", pa.int64(), nullable=False), pa.field("split", pa.string())]
    fields += [pa.field(k, _factor_type(np.asarray(v))) for k, v in factors.items()]
    fields.append(pa.field("z", VECTOR))
    if with_logvar:
        fields.append(pa.field("z_logvar", VECTOR))
    fields += [
        pa.field(name, pa.string())
        for name in ("model", "model_sha256", "dataset", "dataset_fingerprint", "run_id")
    ]
    fields += [
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
        pa.field("code_version", pa.string()),
    ]
    return pa.schema(fields)


def _vectors(z: np.ndarray) -> pa.ListArray:
    z = np.ascontiguousarray(z, dtype=np.float32)  # (N, d)
    offsets = np.arange(0, z.size + 1, z.shape[1], dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(z.reshape(-1)))


def build_rows(
    schema: pa.Schema,
    item_id: np.ndarray,
    z: np.ndarray,
    factors: Mapping[str, np.ndarray],
    lineage: Lineage,
    logvar: np.ndarray | None = None,
) -> pa.Table:
    """Validate one chunk and turn it into an Arrow table matching ``schema``."""
    n = len(item_id)
    check_latents(z, "z")
    if z.shape[0] != n:
        raise InvalidInputError(f"z has {z.shape[0]} rows but item_id has {n}; they must match")
    if len(np.unique(item_id)) != n:
        raise InvalidInputError(
            "item_id values in one chunk must be unique; the dataset repeats ids"
        )
    expected = {f.name for f in schema} - _FIXED
    if set(factors) != expected:
        raise InvalidInputError(
            f"label/factor columns {sorted(factors)} differ from the table's {sorted(expected)}; "
            "write into a new table or pass the same columns"
        )
    columns: dict[str, Any] = {
        "item_id": pa.array(item_id, pa.int64()),
        "split": pa.array(assign_split(np.asarray(item_id))),
        "z": _vectors(z),
    }
    for key, values in factors.items():
        values = np.asarray(values)
        if len(values) != n:
            raise InvalidInputError(f"column {key!r} has {len(values)} values for {n} items")
        columns[key] = pa.array(values, schema.field(key).type)
    if "z_logvar" in schema.names:
        if logvar is None:
            raise InvalidInputError("this table stores z_logvar; pass the encoder's log-variance")
        check_latents(logvar, "z_logvar", d=z.shape[1])
        columns["z_logvar"] = _vectors(logvar)
    now = datetime.now(UTC)
    for key in ("model", "model_sha256", "dataset", "dataset_fingerprint", "run_id"):
        columns[key] = pa.array([getattr(lineage, key)] * n, pa.string())
    columns["created_at"] = pa.array([now] * n, pa.timestamp("us", tz="UTC"))
    columns["code_version"] = pa.array([__version__] * n, pa.string())
    return pa.table({f.name: columns[f.name] for f in schema}, schema=schema)


_FIXED = {
    "item_id",
    "split",
    "z",
    "z_logvar",
    "model",
    "model_sha256",
    "dataset",
    "dataset_fingerprint",
    "run_id",
    "created_at",
    "code_version",
}


def z_matrix(table: pa.Table, column: str = "z") -> np.ndarray:
    """The vector column of an Arrow table as a contiguous (N, d) float32 array."""
    col = table[column].combine_chunks()
    if len(col) == 0:
        return np.zeros((0, 0), np.float32)
    lengths = pc.list_value_length(col)
    d = int(pc.min(lengths).as_py())
    if d != int(pc.max(lengths).as_py()):
        raise InvalidInputError(
            f"column {column!r} mixes vector lengths; the table is inconsistent"
        )
    flat = col.flatten().to_numpy(zero_copy_only=False)
    return flat.astype(np.float32, copy=False).reshape(len(col), d)


def check_factor_names(names: list[str]) -> None:
    """Raise unless label/factor names are free columns of a latent table, case-insensitively.

    SQL (DuckDB) and Delta compare column names without case, so ``topic`` and ``Topic``
    would be one column, and a label called ``split`` or ``z`` would shadow the table's own.
    """
    seen: dict[str, str] = {}
    for name in names:
        folded = name.lower()
        if folded in _FIXED:
            raise InvalidInputError(
                f"label column {name!r} clashes with the latent table's own column {folded!r}; "
                "rename it or leave it out of the label columns"
            )
        if folded in seen:
            raise InvalidInputError(
                f"label columns {seen[folded]!r} and {name!r} differ only in case, which SQL "
                "treats as one column; rename one or leave it out of the label columns"
            )
        seen[folded] = name


def factor_columns(schema: pa.Schema) -> list[str]:
    """The label/factor columns of a latent table schema."""
    return [f.name for f in schema if f.name not in _FIXED]


class LatentTable:
    """Handle on ``latents/<name>``: writes are insert-if-absent merges, reads are snapshots."""

    def __init__(self, uri: str, name: str) -> None:
        self.uri = uri
        self.name = name

    def exists(self) -> bool:
        """True once the first chunk has been committed (or the table was created)."""
        return _delta.exists(self.uri)

    def _table(self, version: int | None = None) -> Any:
        return _delta.open_table(self.uri, version, what=f"latent table {self.name!r}")

    @property
    def card(self) -> dict[str, Any]:
        """Table card: d, model, space, factor names, dataset."""
        return _delta.card_of(self._table())

    @property
    def d(self) -> int:
        """Latent dimension every row's z has."""
        return int(self.card["d"])

    @property
    def version(self) -> int:
        """Current Delta version."""
        return self._table().version()

    def schema(self, version: int | None = None) -> pa.Schema:
        """Arrow schema of a snapshot (reads the log, no rows)."""
        return _delta.arrow_dataset(self._table(version)).schema

    def ensure(self, schema: pa.Schema, card: dict[str, Any], run_id: str | None) -> None:
        """Create the table if needed; refuse if it exists with another d/model/schema."""
        if self.exists():
            self.check_compatible(schema, card)
            return
        _delta.create(self.uri, schema, card, run_id)
        self.check_compatible(schema, card)

    def check_space(self, d: int, model: str) -> None:
        """Raise InvalidInputError unless the table holds ``d``-dim latents of ``model``."""
        self.check_compatible(None, {"d": d, "model": model})

    def check_compatible(self, schema: pa.Schema | None, card: dict[str, Any]) -> None:
        """Raise InvalidInputError if ``card``/``schema`` disagree with the stored table."""
        have = self.card
        if int(have["d"]) != int(card["d"]):
            raise InvalidInputError(
                f"latent table {self.name!r} has d={have['d']} but the new latents have "
                f"d={card['d']}; encode into a new table (--table) for a different model"
            )
        if have.get("model") != card.get("model"):
            raise InvalidInputError(
                f"latent table {self.name!r} holds latents of {have.get('model')}, not "
                f"{card.get('model')}; one table holds one latent space, use --table NEW_NAME"
            )
        if schema is None:
            return
        stored = _delta.arrow_dataset(self._table()).schema
        stored_names = [f.name for f in stored]
        if stored_names != schema.names:
            raise InvalidInputError(
                f"latent table {self.name!r} has columns {stored_names}, the new rows "
                f"{schema.names}; use the same dataset/labels or a new table"
            )

    def insert(self, rows: pa.Table, run_id: str | None, operation: str = "encode") -> int:
        """Commit rows whose item_id is not in the table yet; return how many were new."""
        ids = rows["item_id"]
        lo, hi = int(pc.min(ids).as_py()), int(pc.max(ids).as_py())
        # Narrow the merge to the chunk's id range so Delta can skip unrelated files.
        match = f"t.item_id = s.item_id AND t.item_id >= {lo} AND t.item_id <= {hi}"
        return _delta.insert_new(self.uri, rows, match, run_id, operation)

    def _judged_columns(self, columns: list[str], judge: str, schema: pa.Schema) -> bool:
        """True if ``judge`` already owns ``columns``, False if none exists; else raise."""
        check_factor_names(columns)
        for name in columns:
            if not _IDENTIFIER.fullmatch(name):
                raise InvalidInputError(
                    f"label column {name!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)"
                )
        present = [c for c in columns if c in schema.names]
        for name in present:
            owner = (schema.field(name).metadata or {}).get(JUDGE_KEY, b"").decode() or None
            if owner != judge:
                what = f"judge {owner}'s predictions" if owner else "labels of its own"
                raise InvalidInputError(
                    f"latent table {self.name!r} already has a column {name!r} holding {what}; "
                    f"judge {judge} would overwrite it: label a table without that column"
                )
        if present and len(present) != len(columns):
            missing = sorted(set(columns) - set(present))
            raise InvalidInputError(
                f"latent table {self.name!r} has judge {judge}'s columns {sorted(present)} but "
                f"not {missing}; the judge changed its factors, register it under a new name"
            )
        return bool(present)

    def unlabelled(self, columns: list[str], judge: str, version: int | None = None) -> np.ndarray:
        """Item ids (sorted) of a snapshot whose ``columns`` ``judge`` has not filled yet."""
        if self._judged_columns(columns, judge, self.schema(version)):
            rows = self.read(["item_id", columns[0]], version=version)
            rows = rows.filter(pc.is_null(rows[columns[0]]))
        else:
            rows = self.read(["item_id"], version=version)
        return rows["item_id"].to_numpy()

    def add_labels(self, labels: pa.Table, judge: str, run_id: str | None) -> int:
        """Fill label columns from ``labels`` (item_id + columns) on rows ``judge`` has not
        labelled; return rows labelled.

        Absent columns are added first (one commit, null everywhere, field metadata naming
        the judge), then filled in a second; a row already labelled keeps its labels, so
        concurrent or repeated runs label each row once.
        """
        columns = [c for c in labels.column_names if c != "item_id"]
        meta = {JUDGE_KEY: judge.encode()}
        fields = [labels.schema.field(c).with_metadata(meta) for c in columns]
        if not self._judged_columns(columns, judge, self.schema()):
            _delta.add_columns(self.uri, fields, run_id, "add label columns")
        ids = labels["item_id"]
        lo, hi = int(pc.min(ids).as_py()), int(pc.max(ids).as_py())
        match = (
            f"t.item_id = s.item_id AND t.item_id >= {lo} AND t.item_id <= {hi} "
            f"AND t.{columns[0]} IS NULL"
        )
        return _delta.update_matched(self.uri, labels, match, columns, run_id, "label")

    def item_ids(self) -> np.ndarray:
        """Every item_id currently in the table (sorted)."""
        if not self.exists():
            return np.zeros(0, np.int64)
        with _delta.scanning(self.uri):
            ids = _delta.arrow_dataset(self._table()).to_table(columns=["item_id"])["item_id"]
        return np.sort(ids.to_numpy())

    def read(
        self,
        columns: list[str] | None = None,
        *,
        version: int | None = None,
        split: str | None = None,
    ) -> pa.Table:
        """Read a snapshot (``version`` = time travel), optionally one split, sorted by item_id."""
        table = _delta.read(self._table(version), columns, {"split": split} if split else None)
        return table.sort_by("item_id") if "item_id" in table.column_names else table

    def history(self) -> list[dict[str, Any]]:
        """Versions newest first: version, timestamp, operation, rows added, run id."""
        out = []
        for h in self._table().history():
            metrics = h.get("operationMetrics", {}) or {}
            out.append(
                {
                    "version": h.get("version"),
                    "timestamp": datetime.fromtimestamp(h["timestamp"] / 1000, UTC),
                    "operation": h.get("latentops.operation", h.get("operation")),
                    "rows_added": metrics.get(
                        "num_target_rows_inserted", metrics.get("num_added_rows")
                    ),
                    "run_id": h.get("latentops.run_id"),
                }
            )
        return out
