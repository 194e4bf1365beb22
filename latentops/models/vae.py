"""Convolutional beta-VAE: q(z|x) = N(mu, diag(exp(logvar))), loss = recon + beta * KL."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from latentops.errors import InvalidInputError
from latentops.models._conv import ConvAutoencoder, ConvConfig, bernoulli_recon, check_float
from latentops.models.base import EncodeOutput, LossOutput


@dataclass(frozen=True)
class VAEConfig(ConvConfig):
    """beta-VAE config: the shared conv config plus the KL weight ``beta`` (1 = plain VAE)."""

    beta: float = 1.0
    # initial bias of the posterior log-variance outputs. Near 0 (sigma ~ 1) the sampled z is
    # almost pure noise, the decoder learns the mean image first and the run stalls there;
    # -5 (sigma ~ 0.08) lets reconstructions use z from the first steps (measured in the card)
    logvar_bias: float = -5.0

    def __post_init__(self) -> None:
        super().__post_init__()
        beta = check_float(self.beta, "beta", 0.0, "use beta=1 for a VAE, >1 for a beta-VAE")
        object.__setattr__(self, "beta", beta)
        bias = self.logvar_bias
        if isinstance(bias, bool) or not isinstance(bias, int | float) or not -20 <= bias <= 5:
            raise InvalidInputError(
                f"logvar_bias={bias!r} must be a number in [-20, 5]; e.g. -5 (sigma ~ 0.08)"
            )
        object.__setattr__(self, "logvar_bias", float(bias))


class VAE(ConvAutoencoder):
    """Conv beta-VAE with a standard normal prior; ``encode`` returns the posterior mean."""

    arch = "vae"
    has_posterior = True
    prior = "standard_normal"

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config, 2 * config.latent_dim)  # encoder -> (mu, logvar)
        with torch.no_grad():
            self.encoder.fc2.bias[config.latent_dim :] = config.logvar_bias

    def encode_stats(self, x: torch.Tensor) -> EncodeOutput:
        """Posterior mean z (B, d) and log-variance (B, d) for x (B, C, S, S)."""
        mu, logvar = self.encoder(self.check_x(x)).chunk(2, dim=1)  # (B, d) each
        return EncodeOutput(z=mu, logvar=logvar)

    def loss(self, x: torch.Tensor) -> LossOutput:
        """Negative ELBO with a beta-weighted KL; one reparameterised sample per item."""
        stats = self.encode_stats(x)
        mu, logvar = stats.z.float(), stats.logvar.float()  # (B, d); KL in float32 under AMP
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # (B, d)
        recon = bernoulli_recon(self.decoder(z), x)
        # KL(N(mu, sigma^2) || N(0, 1)) summed over dims, averaged over the batch
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(1).mean()
        reg = self.config.beta * kl
        return LossOutput(loss=recon + reg, recon=recon, reg=reg, extras={"kl": kl})
