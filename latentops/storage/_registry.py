"""CheckpointRegistry: a ``name@version`` table of weight cards over the shared checkpoints/."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any, ClassVar

import pyarrow as pa
import torch
from torch import nn

from latentops import __version__
from latentops.refs import Ref, check_name, parse_ref
from latentops.storage import _delta, _versioned
from latentops.storage._checkpoints import load_state, save_state
from latentops.storage._location import Location


class CheckpointRegistry:
    """The ``TABLE`` Delta table of a store plus the content-addressed ``checkpoints/`` folder."""

    TABLE: ClassVar[str]  # "models", "judges": the table and its SQL view
    WHAT: ClassVar[str]  # "model", "judge": how messages name one entry
    SCHEMA: ClassVar[pa.Schema]

    def __init__(self, root: Location | str | os.PathLike[str]) -> None:
        self.root = Location.of(root)
        self.uri = str(self.root / self.TABLE)
        self.blobs = self.root / "checkpoints"

    def _register(
        self,
        name: str,
        module: nn.Module,
        blob_metadata: dict[str, str],
        fields: dict[str, Any],
        *,
        dataset: str,
        dataset_fingerprint: str,
        train: dict[str, Any],
        metrics: dict[str, Any],
        run_id: str | None,
        stored: tuple[str, str] | None = None,
    ) -> Ref:
        """Store weights once + a card row (own ``fields`` and the common ones) as name@next.

        ``stored`` is (checkpoint, sha256) of weights already in ``checkpoints/`` (programs).
        """
        check_name(name, f"{self.WHAT} name")
        checkpoint, sha = stored or save_state(self.blobs, module, blob_metadata)
        common = {
            **fields,
            "checkpoint": checkpoint,
            "sha256": sha,
            "n_params": sum(p.numel() for p in module.parameters()),
            "dataset": dataset,
            "dataset_fingerprint": dataset_fingerprint,
            "train_json": json.dumps(train, sort_keys=True, default=str),
            "metrics_json": json.dumps(metrics, sort_keys=True, default=float),
            "run_id": run_id,
            "code_version": __version__,
        }

        def row(version: int) -> dict[str, Any]:
            return {"name": name, "version": version, **common, "created_at": datetime.now(UTC)}

        card = {"kind": self.TABLE}
        version = _versioned.register(self.uri, self.SCHEMA, card, name, row, run_id, self.WHAT)
        return Ref(name, version)

    def card(self, ref: str | Ref) -> dict[str, Any]:
        """The card of ``name@version`` (latest if unpinned)."""
        ref = parse_ref(ref, self.WHAT) if isinstance(ref, str) else ref
        return _versioned.card_from_row(_versioned.get_row(self.uri, ref, self.WHAT))

    def _state(
        self, ref: str | Ref, fix: str, device: torch.device | str
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The verified weights and the card of ``ref`` (``fix`` says how to recover)."""
        card = self.card(ref)
        return load_state(self.root, card, self.WHAT, fix, device), card

    def list(self) -> pa.Table:
        """Every registered version, by name then version (empty table when none)."""
        if not _delta.exists(self.uri):
            return self.SCHEMA.empty_table()
        table = _delta.arrow_dataset(_delta.open_table(self.uri)).to_table()
        return table.sort_by([("name", "ascending"), ("version", "ascending")])
