"""A small convolutional autoencoder for 8x8 digits, written from scratch (user code).

latentops never imports this file by name: `latentops models register --factory conv_ae:build`
imports it from PYTHONPATH and calls ``build(**config)``. What latentops asks of the module:
``encode(x) -> z (B, d)``, a ``spec``, and optionally ``decode(z)`` and
``first_decoder_weight()`` (for SeFa).
"""

from __future__ import annotations

import torch
from torch import nn


class ConvAE(nn.Module):
    """(1, 8, 8) in [0, 1] -> z (d,) -> (1, 8, 8)."""

    def __init__(self, latent_dim: int = 8, width: int = 16) -> None:
        super().__init__()
        self.spec = {"d": latent_dim, "input_kind": "image", "input_shape": [1, 8, 8]}
        self.width = width
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),  # (B, w, 8, 8)
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # (B, 2w, 4, 4)
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * width * 16, latent_dim),  # (B, d)
        )
        self.fc = nn.Linear(latent_dim, 2 * width * 16)  # the first decoder layer
        self.decoder = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),  # (B, w, 8, 8)
            nn.ReLU(),
            nn.Conv2d(width, 1, 3, padding=1),  # (B, 1, 8, 8)
            nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 8, 8) -> z (B, d)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, d) -> images (B, 1, 8, 8) in [0, 1]."""
        return self.decoder(self.fc(z).view(-1, 2 * self.width, 4, 4))

    def first_decoder_weight(self) -> torch.Tensor:
        """(out, d) weight of the first decoder layer (SeFa reads directions from it)."""
        return self.fc.weight


def build(latent_dim: int = 8, width: int = 16) -> ConvAE:
    """The factory latentops calls with the JSON config's keys."""
    return ConvAE(latent_dim, width)
