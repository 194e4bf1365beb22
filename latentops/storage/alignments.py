"""Alignment registry: versioned maps between two latent tables (``alignments`` + safetensors).

A row per ``name@version`` (name ``<source>_to_<target>``) records both tables and their
versions, the map kind, how many shared items it was fitted and scored on, and its held-out
error; the arrays (matrix, shift, bias) live in the store's content-addressed ``checkpoints/``
folder as safetensors, verified by sha256 on load. No pickle anywhere.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import torch

from latentops import __version__
from latentops.refs import Ref, generated_name, parse_ref
from latentops.storage import _delta, _versioned
from latentops.storage._checkpoints import load_state, save_tensors
from latentops.storage._location import Location

if TYPE_CHECKING:
    from latentops.directions.align import Alignment

SCHEMA = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        ("kind", pa.string()),
        ("source_table", pa.string()),
        ("source_version", pa.int64()),
        ("target_table", pa.string()),
        ("target_version", pa.int64()),
        ("d_source", pa.int64()),
        ("d_target", pa.int64()),
        ("n_shared", pa.int64()),
        ("heldout_rel_error", pa.float64()),
        ("metrics_json", pa.string()),
        ("checkpoint", pa.string()),
        ("sha256", pa.string()),
        ("run_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("code_version", pa.string()),
    ]
)
_FIX = "fit it again with `latentops directions transfer ... --to-table ...`"


def alignment_name(source: str, target: str) -> str:
    """The catalog name of alignments from table ``source`` to table ``target``."""
    return generated_name(source, "to", target)


class AlignmentRegistry:
    """The ``alignments`` table of a store plus the shared ``checkpoints/`` folder."""

    def __init__(self, root: Location | str | os.PathLike[str]) -> None:
        self.root = Location.of(root)
        self.uri = str(self.root / "alignments")

    def register(
        self,
        alignment: Alignment,
        source: tuple[str, int],
        target: tuple[str, int],
        n_shared: int,
        run_id: str | None = None,
    ) -> Ref:
        """Store ``alignment`` of table@version ``source`` onto ``target`` as name@next."""
        tensors = {
            k: torch.from_numpy(np.ascontiguousarray(getattr(alignment, k)))
            for k in ("matrix", "shift", "bias")
        }
        checkpoint, sha = save_tensors(
            self.root / "checkpoints", tensors, {"kind": alignment.kind, "format": "alignment"}
        )
        name = alignment_name(source[0], target[0])
        fields = {
            "name": name,
            "kind": alignment.kind,
            "source_table": source[0],
            "source_version": int(source[1]),
            "target_table": target[0],
            "target_version": int(target[1]),
            "d_source": alignment.d_source,
            "d_target": alignment.d_target,
            "n_shared": int(n_shared),
            "heldout_rel_error": float(alignment.metrics["heldout_rel_error"]),
            "metrics_json": json.dumps(alignment.metrics, sort_keys=True),
            "checkpoint": checkpoint,
            "sha256": sha,
            "run_id": run_id,
            "code_version": __version__,
        }

        def row(version: int) -> dict[str, Any]:
            return {**fields, "version": version, "created_at": datetime.now(UTC)}

        card = {"kind": "alignments"}
        version = _versioned.register(self.uri, SCHEMA, card, name, row, run_id, "alignment")
        return Ref(name, version)

    def find(self, source: tuple[str, int], target: tuple[str, int], kind: str) -> Ref | None:
        """The latest alignment of ``kind`` from table@version ``source`` onto ``target``."""
        rows = [
            r
            for r in self.list().to_pylist()
            if (r["source_table"], r["source_version"], r["target_table"], r["target_version"])
            == (*source, *target)
            and r["kind"] == kind
        ]
        return Ref(rows[-1]["name"], rows[-1]["version"]) if rows else None

    def card(self, ref: str | Ref) -> dict[str, Any]:
        """The card of alignment ``name@version`` (latest if unpinned)."""
        ref = parse_ref(ref, "alignment") if isinstance(ref, str) else ref
        return _versioned.card_from_row(_versioned.get_row(self.uri, ref, "alignment"))

    def get(self, ref: str | Ref) -> tuple[Alignment, dict[str, Any]]:
        """The verified alignment ``ref`` and its card."""
        from latentops.directions.align import Alignment  # scipy loads only when one is read

        card = self.card(ref)
        state = load_state(self.root, card, "alignment", _FIX, "cpu")
        arrays = {k: state[k].numpy() for k in ("matrix", "shift", "bias")}
        return Alignment(card["kind"], metrics=card["metrics"], **arrays), card

    def list(self) -> pa.Table:
        """Every registered alignment version, by name then version (empty when none)."""
        if not _delta.exists(self.uri):
            return SCHEMA.empty_table()
        table = _delta.arrow_dataset(_delta.open_table(self.uri)).to_table()
        return table.sort_by([("name", "ascending"), ("version", "ascending")])
