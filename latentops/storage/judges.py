"""Judge registry: evaluation models (attribute predictors) as ``name@version`` + safetensors.

Judges score edited images from pixels alone. They live in their own ``judges`` table,
apart from the autoencoders in ``models``, and are trained on the dataset's images and
ground-truth factors, never on any autoencoder's latents, so a judge is independent of
the model it judges. Weights share the store's content-addressed ``checkpoints/`` folder.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import torch

from latentops.refs import Ref
from latentops.storage._registry import CheckpointRegistry

if TYPE_CHECKING:  # evaluation imports sklearn (seconds): only loading a judge pays for it
    from latentops.evaluation import AttributePredictor

KIND = "attribute_predictor"

SCHEMA = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        ("kind", pa.string()),
        ("factors_json", pa.string()),  # {factor: number of classes}
        ("config_json", pa.string()),
        ("checkpoint", pa.string()),
        ("sha256", pa.string()),
        ("n_params", pa.int64()),
        ("dataset", pa.string()),
        ("dataset_fingerprint", pa.string()),
        ("dataset_options_json", pa.string()),
        ("train_json", pa.string()),
        ("metrics_json", pa.string()),  # held-out accuracy per factor
        ("run_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("code_version", pa.string()),
    ]
)


class JudgeRegistry(CheckpointRegistry):
    """The ``judges`` table of a store plus the shared ``checkpoints/`` folder."""

    TABLE = "judges"
    WHAT = "judge"
    SCHEMA = SCHEMA

    def register(
        self,
        name: str,
        judge: AttributePredictor,
        *,
        dataset: str,
        dataset_fingerprint: str,
        dataset_options: dict[str, Any],
        train: dict[str, Any],
        metrics: dict[str, Any],
        run_id: str | None = None,
    ) -> Ref:
        """Store weights + card as the next version of ``name``; return ``name@version``."""
        fields = {
            "kind": KIND,
            "factors_json": json.dumps(judge.config.factors, sort_keys=True),
            "config_json": json.dumps(judge.config.to_dict(), sort_keys=True),
            "dataset_options_json": json.dumps(dataset_options, sort_keys=True, default=str),
        }
        return self._register(
            name,
            judge,
            {"kind": KIND},
            fields,
            dataset=dataset,
            dataset_fingerprint=dataset_fingerprint,
            train=train,
            metrics=metrics,
            run_id=run_id,
        )

    def load(
        self, ref: str | Ref, device: torch.device | str = "cpu"
    ) -> tuple[AttributePredictor, dict]:
        """Rebuild the judge of ``ref`` from its card and verified weights, in eval mode."""
        state, card = self._state(ref, "retrain it with `latentops judges train`", device)
        from latentops.evaluation import AttributePredictor, PredictorConfig

        judge = AttributePredictor(PredictorConfig.from_dict(card["config"]))
        judge.load_state_dict(state)
        return judge.to(device).eval(), card
