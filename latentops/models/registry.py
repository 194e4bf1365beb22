"""Build models by architecture name from JSON-able config, and restore their weights.

``build_model(m.arch, **model_config_dict(m)).load_state_dict(m.state_dict())`` rebuilds ``m``
exactly; ``load_model_state`` does the same with checks that name what a bad checkpoint lacks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch

from latentops.errors import CorruptArtifactError, InvalidInputError, NotFoundError
from latentops.models.ae import AE, AEConfig
from latentops.models.base import Autoencoder
from latentops.models.external import ExternalModel
from latentops.models.identity import IdentityConfig, IdentityModel
from latentops.models.vae import VAE, VAEConfig
from latentops.models.vqvae import VQVAE, VQVAEConfig

_REGISTRY: dict[str, tuple[type[Autoencoder], type]] = {
    "vae": (VAE, VAEConfig),
    "ae": (AE, AEConfig),
    "vqvae": (VQVAE, VQVAEConfig),
    "identity": (IdentityModel, IdentityConfig),
}


def list_models() -> list[str]:
    """Architecture names accepted by ``build_model``."""
    return sorted(_REGISTRY)


def build_model(arch: str, **config: Any) -> Autoencoder:
    """Build a fresh ``arch`` model from its config fields (see its *Config dataclass)."""
    if arch not in _REGISTRY:
        raise NotFoundError(f"unknown model arch {arch!r}; known archs are {list_models()}")
    model_cls, config_cls = _REGISTRY[arch]
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(config) - fields)
    if unknown:
        raise InvalidInputError(
            f"model arch {arch!r} has no config field(s) {unknown}; its fields are {sorted(fields)}"
        )
    return model_cls(config_cls(**config))


def model_config_dict(model: Autoencoder) -> dict[str, Any]:
    """The model's config as a JSON-able dict (tuples become lists) for ``build_model``."""
    return {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in dataclasses.asdict(model.config).items()
    }


def load_model_state(model: Autoencoder, state: Mapping[str, torch.Tensor]) -> Autoencoder:
    """Load ``state`` (e.g. from safetensors) into ``model`` strictly; return the model.

    An external model's state is its user module's own (no ``net.`` prefix).
    """
    target = model.net if isinstance(model, ExternalModel) else model
    what = (
        model.label
        if isinstance(model, ExternalModel)
        else f"a {model.arch!r} model with config {model.config}"
    )
    not_tensors = sorted(k for k, v in state.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise CorruptArtifactError(
            f"checkpoint entries {not_tensors[:5]} are not tensors; load weights with "
            "safetensors.torch.load_file, not a pickle"
        )
    expected = target.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    )
    if missing or unexpected or wrong:
        raise CorruptArtifactError(
            f"checkpoint does not fit {what}: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong[:5]}; "
            "rebuild the model with the config saved next to these weights"
        )
    bad = sorted(
        k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()
    )
    if bad:
        raise CorruptArtifactError(
            f"checkpoint tensors {bad[:5]} contain NaN/inf; the model diverged before it was "
            "saved: retrain with a lower lr"
        )
    target.load_state_dict(dict(state))
    return model
