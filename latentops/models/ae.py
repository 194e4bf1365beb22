"""Deterministic convolutional autoencoder: z = f(x), x_hat = sigmoid(g(z))."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentops.models._conv import ConvAutoencoder, ConvConfig, bernoulli_recon
from latentops.models.base import EncodeOutput, LossOutput


@dataclass(frozen=True)
class AEConfig(ConvConfig):
    """Plain autoencoder: the shared conv config, nothing else."""


class AE(ConvAutoencoder):
    """Deterministic conv autoencoder trained on Bernoulli reconstruction alone."""

    arch = "ae"

    def __init__(self, config: AEConfig) -> None:
        super().__init__(config, config.latent_dim)

    def encode_stats(self, x: torch.Tensor) -> EncodeOutput:
        """z (B, d) for x (B, C, S, S); no variance."""
        return EncodeOutput(z=self.encoder(self.check_x(x)), logvar=None)

    def loss(self, x: torch.Tensor) -> LossOutput:
        """Reconstruction loss; ``reg`` is zero."""
        logits = self.decoder(self.encoder(self.check_x(x)))  # (B, C, S, S)
        recon = bernoulli_recon(logits, x)
        return LossOutput(loss=recon, recon=recon, reg=torch.zeros((), device=recon.device))
