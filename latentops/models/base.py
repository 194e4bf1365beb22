"""The base class of latentops' own models: encode(x) -> z, decode(z) -> x, loss(x).

It implements the public latent-model protocol (``models.protocol``): ``spec`` and
``capabilities`` derive from the class flags below. Models are plain ``nn.Module`` s
configured by a frozen dataclass; they never read or write files (storage/ saves
``state_dict()`` with safetensors and rebuilds with ``build_model``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from latentops.errors import InvalidInputError, UnsupportedOperationError
from latentops.models.protocol import Capabilities, ModelSpec


@dataclass(frozen=True)
class EncodeOutput:
    """Latent code of a batch; ``logvar`` is the posterior log-variance (VAE only)."""

    z: torch.Tensor  # (B, d) the posterior mean for a VAE
    logvar: torch.Tensor | None  # (B, d) or None


@dataclass(frozen=True)
class LossOutput:
    """Training loss per item (batch mean) and its parts: ``loss = recon + reg``."""

    loss: torch.Tensor  # () scalar to minimise
    recon: torch.Tensor  # () reconstruction term (sum over pixels, mean over batch)
    reg: torch.Tensor  # () weighted regulariser (beta * KL, VQ codebook + commitment, or 0)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # () each, e.g. kl, perplexity


class Autoencoder(nn.Module, ABC):
    """Base class: ``arch`` names the architecture, ``config`` is its frozen dataclass."""

    arch: ClassVar[str]
    has_decoder: ClassVar[bool] = True
    has_posterior: ClassVar[bool] = False  # encode_stats returns a logvar
    prior: ClassVar[str] = "none"  # "standard_normal" when trained against N(0, I)
    config: Any

    @property
    def spec(self) -> ModelSpec:
        """The protocol spec: d, input kind and shape, prior, float32 z."""
        kind = "image" if len(self.x_shape) == 3 else "vector"
        return ModelSpec(self.latent_dim, kind, self.x_shape, self.prior)

    @property
    def capabilities(self) -> Capabilities:
        """The protocol capabilities, from the class flags and the methods it overrides."""
        own = type(self).first_decoder_weight is not Autoencoder.first_decoder_weight
        return Capabilities(
            decodes=self.has_decoder,
            posterior=self.has_posterior,
            first_decoder_layer=own,
            codebook=hasattr(self, "codebook") and hasattr(self, "token_shape"),
        )

    @property
    @abstractmethod
    def latent_dim(self) -> int:
        """Length d of the flat latent vector ``encode`` returns."""

    @property
    @abstractmethod
    def x_shape(self) -> tuple[int, ...]:
        """Shape of one input item, e.g. (C, H, W)."""

    @abstractmethod
    def encode_stats(self, x: torch.Tensor) -> EncodeOutput:
        """Encode x (B, *x_shape) to z (B, d) and, for a VAE, the posterior logvar (B, d)."""

    @abstractmethod
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode z (B, d) to images (B, C, H, W) in [0, 1]."""

    @abstractmethod
    def loss(self, x: torch.Tensor) -> LossOutput:
        """Training loss on a batch x (B, C, H, W) in [0, 1]."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Encode x (B, *x_shape) to z (B, d); the posterior mean for a VAE."""
        return self.encode_stats(x).z

    def first_decoder_weight(self) -> torch.Tensor:
        """Weight (out, d) of the first linear layer the decoder applies to z (used by SeFa)."""
        raise UnsupportedOperationError(
            f"the {self.arch!r} model's decoder does not start with a linear layer on z, so it "
            "has no (out, d) weight for SeFa; use a 'vae' or 'ae' model, or a supervised "
            "direction method"
        )

    def check_x(self, x: torch.Tensor) -> torch.Tensor:
        """Raise unless x is a float batch of shape (B, *x_shape); return it unchanged."""
        ok = isinstance(x, torch.Tensor) and x.is_floating_point() and x.ndim >= 1
        if not ok or tuple(x.shape[1:]) != self.x_shape:
            got = (tuple(x.shape), x.dtype) if isinstance(x, torch.Tensor) else type(x).__name__
            want = ", ".join(map(str, self.x_shape))
            raise InvalidInputError(
                f"{self.arch!r} model expects a float batch of shape (B, {want}), got {got}; "
                "use images from the dataset it was built for (in_channels/image_size)"
            )
        return x

    def check_z(self, z: torch.Tensor) -> torch.Tensor:
        """Raise unless z is a float batch of shape (B, latent_dim); return it unchanged."""
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.latent_dim:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise InvalidInputError(
                f"{self.arch!r} model decodes z of shape (B, {self.latent_dim}), got {got}; "
                "use latents encoded by this model (add a batch dim with z[None])"
            )
        return z

    def extra_repr(self) -> str:
        return f"config={self.config}"
