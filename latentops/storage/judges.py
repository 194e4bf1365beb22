"""Judge registry: evaluation models (attribute predictors) as ``name@version`` + safetensors.

Judges score edited images from pixels alone. They live in their own ``judges`` table,
apart from the autoencoders in ``models``, and are trained on the dataset's images and
ground-truth factors, never on any autoencoder's latents, so a judge is independent of
the model it judges. Weights share the store's content-addressed ``checkpoints/`` folder.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import torch

from latentops import __version__
from latentops.evaluation import AttributePredictor, PredictorConfig
from latentops.refs import Ref, check_name, parse_ref
from latentops.storage import _delta, _versioned
from latentops.storage._checkpoints import load_state, save_state
from latentops.storage._location import Location

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


class JudgeRegistry:
    """The ``judges`` table of a store plus the shared ``checkpoints/`` folder."""

    def __init__(self, root: Location | str | os.PathLike[str]) -> None:
        self.root = Location.of(root)
        self.uri = str(self.root / "judges")
        self.blobs = self.root / "checkpoints"

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
        check_name(name, "judge name")
        checkpoint, sha = save_state(self.blobs, judge, {"kind": KIND})
        config = judge.config.to_dict()

        def row(version: int) -> dict[str, Any]:
            return {
                "name": name,
                "version": version,
                "kind": KIND,
                "factors_json": json.dumps(judge.config.factors, sort_keys=True),
                "config_json": json.dumps(config, sort_keys=True),
                "checkpoint": checkpoint,
                "sha256": sha,
                "n_params": sum(p.numel() for p in judge.parameters()),
                "dataset": dataset,
                "dataset_fingerprint": dataset_fingerprint,
                "dataset_options_json": json.dumps(dataset_options, sort_keys=True, default=str),
                "train_json": json.dumps(train, sort_keys=True, default=str),
                "metrics_json": json.dumps(metrics, sort_keys=True, default=float),
                "run_id": run_id,
                "created_at": datetime.now(UTC),
                "code_version": __version__,
            }

        version = _versioned.register(
            self.uri, SCHEMA, {"kind": "judges"}, name, row, run_id, "judge"
        )
        return Ref(name, version)

    def card(self, ref: str | Ref) -> dict[str, Any]:
        """The card of ``name@version`` (latest if unpinned)."""
        ref = parse_ref(ref, "judge") if isinstance(ref, str) else ref
        return _versioned.card_from_row(_versioned.get_row(self.uri, ref, "judge"))

    def load(
        self, ref: str | Ref, device: torch.device | str = "cpu"
    ) -> tuple[AttributePredictor, dict]:
        """Rebuild the judge of ``ref`` from its card and verified weights, in eval mode."""
        card = self.card(ref)
        fix = "retrain it with `latentops judges train`"
        state = load_state(self.root, card, "judge", fix, device)
        judge = AttributePredictor(PredictorConfig(**card["config"]))
        judge.load_state_dict(state)
        return judge.to(device).eval(), card

    def list(self) -> pa.Table:
        """Every registered judge version (empty table when none)."""
        if not _delta.exists(self.uri):
            return SCHEMA.empty_table()
        table = _delta.open_table(self.uri).to_pyarrow_table()
        return table.sort_by([("name", "ascending"), ("version", "ascending")])
