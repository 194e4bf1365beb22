"""Model registry: immutable ``name@version`` rows + content-addressed safetensors weights."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import torch

from latentops import __version__
from latentops.models import Autoencoder, build_model, model_config_dict
from latentops.refs import Ref, check_name, parse_ref
from latentops.storage import _delta, _versioned
from latentops.storage._checkpoints import load_state, save_state
from latentops.storage._location import Location

SCHEMA = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        ("arch", pa.string()),
        ("latent_dim", pa.int64()),
        ("config_json", pa.string()),
        ("checkpoint", pa.string()),
        ("sha256", pa.string()),
        ("n_params", pa.int64()),
        ("dataset", pa.string()),
        ("dataset_fingerprint", pa.string()),
        ("train_json", pa.string()),
        ("metrics_json", pa.string()),
        ("run_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("code_version", pa.string()),
    ]
)


class ModelRegistry:
    """The ``models`` table of a store plus its ``checkpoints/`` folder."""

    def __init__(self, root: Location | str | os.PathLike[str]) -> None:
        self.root = Location.of(root)
        self.uri = str(self.root / "models")
        self.blobs = self.root / "checkpoints"

    def register(
        self,
        name: str,
        model: Autoencoder,
        *,
        dataset: str,
        dataset_fingerprint: str,
        train: dict[str, Any],
        metrics: dict[str, Any],
        run_id: str | None = None,
    ) -> Ref:
        """Store weights + card as the next version of ``name``; return ``name@version``."""
        check_name(name, "model name")
        checkpoint, sha = save_state(self.blobs, model, {"arch": model.arch})
        config = model_config_dict(model)

        def row(version: int) -> dict[str, Any]:
            return {
                "name": name,
                "version": version,
                "arch": model.arch,
                "latent_dim": int(model.latent_dim),
                "config_json": json.dumps(config, sort_keys=True),
                "checkpoint": checkpoint,
                "sha256": sha,
                "n_params": sum(p.numel() for p in model.parameters()),
                "dataset": dataset,
                "dataset_fingerprint": dataset_fingerprint,
                "train_json": json.dumps(train, sort_keys=True, default=str),
                "metrics_json": json.dumps(metrics, sort_keys=True, default=float),
                "run_id": run_id,
                "created_at": datetime.now(UTC),
                "code_version": __version__,
            }

        card = {"kind": "models"}
        version = _versioned.register(self.uri, SCHEMA, card, name, row, run_id, "model")
        return Ref(name, version)

    def card(self, ref: str | Ref) -> dict[str, Any]:
        """The card of ``name@version`` (latest if unpinned)."""
        ref = parse_ref(ref, "model") if isinstance(ref, str) else ref
        return _versioned.card_from_row(_versioned.get_row(self.uri, ref, "model"))

    def load(self, ref: str | Ref, device: torch.device | str = "cpu") -> tuple[Autoencoder, dict]:
        """Rebuild the model of ``ref`` from its card and verified weights, in eval mode."""
        card = self.card(ref)
        state = load_state(
            self.root, card, "model", "retrain it or restore it from a backup", device
        )
        model = build_model(card["arch"], **card["config"])
        model.load_state_dict(state)
        return model.to(device).eval(), card

    def list(self) -> pa.Table:
        """Every registered model version (empty table when none)."""
        if not _delta.exists(self.uri):
            return SCHEMA.empty_table()
        return (
            _delta.open_table(self.uri)
            .to_pyarrow_table()
            .sort_by([("name", "ascending"), ("version", "ascending")])
        )
