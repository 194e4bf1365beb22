"""Edits table: one row per edited latent (direction edit, interpolation, traversal, VQ swap).

Rows are keyed by a deterministic ``edit_id`` (a hash of everything that determines z_edit:
kind, encoder weights, latent table, item(s), direction, dim, strength and parameters), so
re-running an edit flow with the same inputs inserts nothing new: exactly once per edit.
Each chunk is one Delta merge commit, so a failed task leaves no partial chunk behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from latentops import __version__
from latentops._png import png_array as png_array  # re-exported: decodes the png column
from latentops._png import png_bytes as png_bytes
from latentops._validate import check_latents
from latentops.errors import InvalidInputError
from latentops.models import DecodedTexts
from latentops.storage import _delta
from latentops.storage.latents import VECTOR, _vectors

KINDS = ("direction", "interpolation", "traversal", "vq_swap")

SCHEMA = pa.schema(
    [
        pa.field("edit_id", pa.string(), nullable=False),
        ("kind", pa.string()),
        ("item_id", pa.int64()),
        ("partner_id", pa.int64()),  # interpolation: the item the path ends at
        ("direction", pa.string()),  # direction edits: name@version
        ("dim", pa.int64()),  # coordinate traversals: the latent dim that was set
        ("strength", pa.float64()),  # edit strength, interpolation t or coordinate value
        ("step", pa.int64()),  # position of ``strength`` in its grid
        ("params_json", pa.string()),  # method (lerp/slerp), code swap, grid size ...
        ("z_edit", VECTOR),
        ("png", pa.binary()),  # decoded output as a PNG thumbnail (null when not decoded)
        ("text", pa.string()),  # text latents: the decoded (retrieved) sentence
        ("text_item_id", pa.int64()),  # the corpus item it was retrieved from
        ("text_distance", pa.float64()),  # cosine distance of that item's z to z_edit
        ("fidelity", pa.float64()),  # cosine of the re-embedded text to z_edit (the round trip)
        ("model", pa.string()),
        ("model_sha256", pa.string()),
        ("latent_table", pa.string()),
        ("latent_table_version", pa.int64()),
        ("run_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("code_version", pa.string()),
    ]
)


@dataclass(frozen=True)
class EditSource:
    """The latent space and table snapshot a batch of edits was made from."""

    model: str
    model_sha256: str
    latent_table: str
    latent_table_version: int
    run_id: str | None = None


def _edit_ids(columns: dict[str, list[Any]], sha: str, table: str) -> list[str]:
    """Deterministic ids: the same edit of the same latent always gets the same id."""
    keys = ("kind", "item_id", "partner_id", "direction", "dim", "strength", "params_json")
    out = []
    for values in zip(*(columns[k] for k in keys), strict=True):
        text = json.dumps([sha, table, *values], default=float)
        out.append(hashlib.sha256(text.encode()).hexdigest()[:32])
    return out


def build_edit_rows(
    kind: str,
    item_id: np.ndarray,
    z_edit: np.ndarray,
    strength: np.ndarray | None,
    step: np.ndarray | None,
    source: EditSource,
    *,
    direction: str | None = None,
    partner_id: np.ndarray | None = None,
    dim: np.ndarray | None = None,
    params: Sequence[dict[str, Any]] | dict[str, Any] | None = None,
    png: Sequence[bytes | None] | None = None,
    texts: DecodedTexts | None = None,
) -> pa.Table:
    """Validate one chunk of edits (M rows) and return it as an Arrow table of SCHEMA."""
    if kind not in KINDS:
        raise InvalidInputError(f"edit kind {kind!r} is not one of {KINDS}")
    item_id = np.asarray(item_id, np.int64).reshape(-1)  # (M,)
    m = item_id.shape[0]
    check_latents(z_edit, "z_edit", min_rows=1)
    per_row = {
        "z_edit": z_edit,
        "strength": strength,
        "step": step,
        "partner_id": partner_id,
        "dim": dim,
        "png": png,
        "texts": None if texts is None else texts.text,
    }
    for name, values in per_row.items():
        if values is not None and len(values) != m:
            raise InvalidInputError(
                f"{name} has {len(values)} rows for {m} item ids; they must match"
            )
    if isinstance(params, dict) or params is None:
        params_json = [json.dumps(params or {}, sort_keys=True)] * m
    else:
        params_json = [json.dumps(p, sort_keys=True) for p in params]

    def ints(x: np.ndarray | None) -> list[int | None]:
        return [None] * m if x is None else np.asarray(x, np.int64).tolist()

    columns: dict[str, list[Any]] = {
        "kind": [kind] * m,
        "item_id": item_id.tolist(),
        "partner_id": ints(partner_id),
        "direction": [direction] * m,
        "dim": ints(dim),
        "strength": [None] * m if strength is None else np.asarray(strength, np.float64).tolist(),
        "params_json": params_json,
    }
    ids = _edit_ids(columns, source.model_sha256, source.latent_table)
    now = datetime.now(UTC)
    data = {
        "edit_id": pa.array(ids, pa.string()),
        **{k: pa.array(v, SCHEMA.field(k).type) for k, v in columns.items()},
        "step": pa.array(ints(step), pa.int64()),
        "z_edit": _vectors(z_edit),
        "png": pa.array(list(png) if png is not None else [None] * m, pa.binary()),
        **_text_columns(texts, m),
        "model": pa.array([source.model] * m, pa.string()),
        "model_sha256": pa.array([source.model_sha256] * m, pa.string()),
        "latent_table": pa.array([source.latent_table] * m, pa.string()),
        "latent_table_version": pa.array([source.latent_table_version] * m, pa.int64()),
        "run_id": pa.array([source.run_id] * m, pa.string()),
        "created_at": pa.array([now] * m, pa.timestamp("us", tz="UTC")),
        "code_version": pa.array([__version__] * m, pa.string()),
    }
    return pa.table({f.name: data[f.name] for f in SCHEMA}, schema=SCHEMA)


def _text_columns(texts: DecodedTexts | None, m: int) -> dict[str, pa.Array]:
    """The decoded-text columns of M rows (nulls for edits of image or vector latents)."""
    if texts is None:
        return {k: pa.nulls(m, SCHEMA.field(k).type) for k in _TEXT}
    fidelity = None if texts.fidelity is None else texts.fidelity.tolist()
    values = (texts.text, texts.item_id.tolist(), texts.distance.tolist(), fidelity)
    return {
        k: pa.array(v if v is not None else [None] * m, SCHEMA.field(k).type)
        for k, v in zip(_TEXT, values, strict=True)
    }


_TEXT = ("text", "text_item_id", "text_distance", "fidelity")


class EditsTable:
    """Handle on the store's ``edits`` Delta table."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def exists(self) -> bool:
        """True once the first edit has been written."""
        return _delta.exists(self.uri)

    @property
    def version(self) -> int:
        """Current Delta version."""
        return _delta.open_table(self.uri, what="edits table").version()

    def insert(self, rows: pa.Table, run_id: str | None) -> int:
        """Commit the rows whose edit_id is new, in one atomic commit; return how many."""
        if len(rows) == 0:
            return 0
        if len(pc.unique(rows["edit_id"])) != len(rows):
            raise InvalidInputError(
                "a chunk of edits repeats an edit (same item, direction and strength); pass "
                "distinct strengths / items"
            )
        _delta.create(self.uri, SCHEMA, {"kind": "edits"}, run_id)
        lo, hi = int(pc.min(rows["item_id"]).as_py()), int(pc.max(rows["item_id"]).as_py())
        # the item_id range lets Delta skip files of other items (edit_id implies item_id)
        match = f"t.edit_id = s.edit_id AND t.item_id >= {lo} AND t.item_id <= {hi}"
        # an edits table written before the text columns existed gains them (nulls in old
        # rows) through add_columns, which keeps the table's card (a schema-merging insert drops it)
        _delta.add_columns(self.uri, list(SCHEMA), run_id, "add edit columns")
        return _delta.insert_new(self.uri, rows, match, run_id, "edit")

    def read(
        self,
        columns: list[str] | None = None,
        *,
        run_id: str | None = None,
        version: int | None = None,
    ) -> pa.Table:
        """Rows of a snapshot (optionally one run's), sorted by kind, item, direction, step."""
        if not self.exists():
            return SCHEMA.empty_table() if columns is None else SCHEMA.empty_table().select(columns)
        delta = _delta.open_table(self.uri, version, what="edits table")
        table = _delta.read(delta, columns, {"run_id": run_id} if run_id else None)
        keys = [
            k for k in ("kind", "item_id", "direction", "dim", "step") if k in table.column_names
        ]
        return table.sort_by([(k, "ascending") for k in keys]) if keys else table
