"""Model registry: immutable ``name@version`` rows + content-addressed safetensors weights.

Built-in models are rebuilt from (arch, config); external ones (arch ``external``) from the
recorded factory, entry point or ``.pt2`` programs (storage/external_models.py). Every card
carries the model's fingerprint: the weights' sha256 and its code identity.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import torch

from latentops.errors import NotFoundError
from latentops.models import (
    Autoencoder,
    Capabilities,
    CheckReport,
    ModelSpec,
    build_model,
    model_config_dict,
)
from latentops.refs import Ref
from latentops.storage import external_models, pretrained
from latentops.storage._checkpoints import load_state
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

    def register_external(
        self,
        name: str,
        build: external_models.Build,
        report: CheckReport,
        *,
        dataset: str | None,
        dataset_fingerprint: str | None,
        dataset_options: dict[str, Any],
        run_id: str | None = None,
    ) -> Ref:
        """Store an external model that passed ``report`` (``check_model`` on it) as name@next.

        Refuses, writing nothing, a model that failed a check; the figures become its metrics.
        """
        report.raise_on_failure(name, "; nothing registered")
        model = build.model
        stored = None
        if build.programs:
            external_models.store_programs(self.blobs, build.programs)
            stored = (build.config["programs"]["encoder"], build.config["code_sha256"])
        return self._register(
            name,
            model.net,
            {"arch": model.arch, "source": build.config["source"]},
            {
                "arch": model.arch,
                "latent_dim": int(model.latent_dim),
                "config_json": json.dumps(build.config, sort_keys=True),
            },
            dataset=dataset,
            dataset_fingerprint=dataset_fingerprint,
            train={"dataset_options": dataset_options, "external": True},
            metrics={"checks": report.figures},
            run_id=run_id,
            stored=stored,
        )

    def register_pretrained(self, name: str, run_id: str | None = None) -> Ref:
        """Copy the packaged pretrained model ``name`` (``minilm``) into the store as name@next."""
        if name not in pretrained.PRETRAINED:
            raise NotFoundError(
                f"no pretrained model {name!r}; latentops ships {list(pretrained.PRETRAINED)}"
            )
        model, record, tokenizer_json = pretrained.from_package()
        pretrained.store_tokenizer(self.root, record, tokenizer_json)
        return self._register(
            name,
            model,
            {"arch": model.arch, "source": "pretrained"},
            {
                "arch": model.arch,
                "latent_dim": int(model.latent_dim),
                "config_json": json.dumps(record, sort_keys=True),
            },
            dataset=None,
            dataset_fingerprint=None,
            train={"pretrained": record["distribution"]},
            metrics={},
            run_id=run_id,
        )

    def resolve(self, ref: str, run_id: str | None = None) -> dict[str, Any]:
        """The card of ``ref``; a shipped pretrained model (minilm) registers on first use."""
        try:
            return self.card(ref)
        except NotFoundError:
            name = ref.partition("@")[0]
            if name not in pretrained.PRETRAINED or self.exists(name):
                raise
        self.register_pretrained(name, run_id)
        return self.card(ref)

    def exists(self, name: str) -> bool:
        """True when some version of ``name`` is registered."""
        return name in self.list().column("name").to_pylist()

    def card(self, ref: str | Ref) -> dict[str, Any]:
        """The card of ``name@version`` (latest if unpinned), with its fingerprint."""
        card = super().card(ref)
        if card["arch"] == "external":
            code = f"{card['config']['source']}:{card['config']['code_sha256']}"
        elif card["config"].get("source") == "pretrained":
            code = f"pretrained {card['arch']}:{card['config']['code_sha256']}"
        else:  # built-in code is the latentops release that registered it
            code = f"latentops {card['arch']} {card['code_version']}"
        card["fingerprint"] = {"weights_sha256": card["sha256"], "code": code}
        return card

    def spec(self, card: dict[str, Any]) -> ModelSpec:
        """The protocol spec of a card's model, without loading weights."""
        if card["arch"] == "external" or card["config"].get("source") == "pretrained":
            return ModelSpec.of(card["config"]["spec"])
        return build_model(card["arch"], **card["config"]).spec

    def capabilities(self, card: dict[str, Any]) -> Capabilities:
        """The capabilities of a card's model as registered, without running its code."""
        if card["arch"] == "external" or card["config"].get("source") == "pretrained":
            return Capabilities(**card["config"]["capabilities"])
        return build_model(card["arch"], **card["config"]).capabilities

    def load(self, ref: str | Ref, device: torch.device | str = "cpu") -> tuple[Autoencoder, dict]:
        """Rebuild the model of ``ref`` from its card and verified weights, in eval mode."""
        card = self.card(ref)
        if card["arch"] == "external":
            exported = card["config"]["source"] == "exported"
            state = None if exported else load_state(self.root, card, self.WHAT, _FIX, "cpu")
            model = external_models.rebuild(self.root, card, state)
            return model.to(device).eval(), card
        fix = "retrain it or restore it from a backup"
        state = load_state(self.root, card, self.WHAT, fix, device)
        if card["config"].get("source") == "pretrained":
            return pretrained.rebuild(self.root, card, state).to(device), card
        model = build_model(card["arch"], **card["config"])
        model.load_state_dict(state)
        return model.to(device).eval(), card


_FIX = "register the model again from its weights file"
