"""Model registry: immutable ``name@version`` rows + content-addressed safetensors weights."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import torch

from latentops.models import Autoencoder, build_model, model_config_dict
from latentops.refs import Ref
from latentops.storage._registry import CheckpointRegistry


def trained_on(card: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The dataset a model saw in training and its options, from the model's card."""
    return card["dataset"], dict((card.get("train") or {}).get("dataset_options") or {})


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


class ModelRegistry(CheckpointRegistry):
    """The ``models`` table of a store plus its ``checkpoints/`` folder."""

    TABLE = "models"
    WHAT = "model"
    SCHEMA = SCHEMA

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
        fields = {
            "arch": model.arch,
            "latent_dim": int(model.latent_dim),
            "config_json": json.dumps(model_config_dict(model), sort_keys=True),
        }
        return self._register(
            name,
            model,
            {"arch": model.arch},
            fields,
            dataset=dataset,
            dataset_fingerprint=dataset_fingerprint,
            train=train,
            metrics=metrics,
            run_id=run_id,
        )

    def load(self, ref: str | Ref, device: torch.device | str = "cpu") -> tuple[Autoencoder, dict]:
        """Rebuild the model of ``ref`` from its card and verified weights, in eval mode."""
        state, card = self._state(ref, "retrain it or restore it from a backup", device)
        model = build_model(card["arch"], **card["config"])
        model.load_state_dict(state)
        return model.to(device).eval(), card
