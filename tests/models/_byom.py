"""A user's model module written into a temporary directory, never importable from latentops."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import torch
from safetensors.torch import save_file

# A from-scratch linear autoencoder on (1, S, S) images. ``mode`` plants one defect per bad
# input the registry must refuse; "ok" is a well-behaved model.
USER_MODULE = """
import torch
from torch import nn


class TinyAE(nn.Module):
    def __init__(self, latent_dim, size, mode):
        super().__init__()
        self.spec = {"d": latent_dim, "input_kind": "image", "input_shape": [1, size, size]}
        self.enc = nn.Linear(size * size, latent_dim)
        self.dec = nn.Linear(latent_dim, size * size)
        self.size, self.mode = size, mode

    def encode(self, x):
        z = self.enc(x.flatten(1))
        if self.mode == "noisy":
            z = z + torch.randn_like(z)
        if self.mode == "nan":
            z = z * float("nan")
        if self.mode == "wide":
            z = torch.cat([z, z[:, :1]], 1)
        if self.mode == "half":
            z = z.half()
        return z

    def decode(self, z):
        return torch.sigmoid(self.dec(z)).view(-1, 1, self.size, self.size)

    def first_decoder_weight(self):
        return self.dec.weight


def build(latent_dim=4, size=8, mode="ok"):
    if mode == "not_module":
        return {"encode": None}
    return TinyAE(latent_dim, size, mode)
"""


def weights(latent_dim: int = 4, size: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state_dict for TinyAE, made without importing the user's module."""
    g = torch.Generator().manual_seed(seed)
    p = size * size
    return {
        "enc.weight": torch.randn(latent_dim, p, generator=g) / p**0.5,
        "enc.bias": torch.zeros(latent_dim),
        "dec.weight": torch.randn(p, latent_dim, generator=g),
        "dec.bias": torch.zeros(p),
    }


def write_user_model(root: Path, **config: object) -> tuple[str, Path, Path]:
    """(factory path, config JSON, safetensors weights) of a fresh module under ``root``."""
    module = f"byom_user_{uuid.uuid4().hex[:8]}"
    (root / f"{module}.py").write_text(USER_MODULE)
    cfg = root / f"{module}.json"
    cfg.write_text(json.dumps(config))
    w = root / f"{module}.safetensors"
    save_file(weights(config.get("latent_dim", 4), config.get("size", 8)), str(w))
    return f"{module}:build", cfg, w


def write_plugin(root: Path, entry: str) -> None:
    """A tiny installed distribution offering the user module under entry point ``entry``."""
    module = f"byom_plugin_{uuid.uuid4().hex[:8]}"
    (root / f"{module}.py").write_text(USER_MODULE)
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[latentops.models]\n{entry} = {module}:build\n")
