"""The identity "model" for imported embeddings: z is the input vector itself, no decoder."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from latentops.errors import InvalidInputError, UnsupportedOperationError
from latentops.models._conv import check_int
from latentops.models.base import Autoencoder, EncodeOutput, LossOutput

_NO_DECODER = (
    "the identity model has no decoder; it only passes imported embeddings through. Edit and "
    "score latents without decoding (directions, retrieval, SQL), or train a 'vae'/'ae' model "
    "on images to decode"
)


@dataclass(frozen=True)
class IdentityConfig:
    """Identity model config: the embedding length ``dim``."""

    dim: int = 1

    def __post_init__(self) -> None:
        check_int(self.dim, "dim", 1, "pass the length of the imported vectors, e.g. dim=512")


class IdentityModel(Autoencoder):
    """Passes (B, dim) vectors (or any (B, ...) of dim values) through as z; cannot decode."""

    arch = "identity"
    has_decoder = False

    def __init__(self, config: IdentityConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def latent_dim(self) -> int:
        """Length d of the imported vectors."""
        return self.config.dim

    @property
    def x_shape(self) -> tuple[int, ...]:
        """(dim,) of one imported vector."""
        return (self.config.dim,)

    def encode_stats(self, x: torch.Tensor) -> EncodeOutput:
        """z = x flattened to (B, dim) float32; no variance."""
        if (
            not isinstance(x, torch.Tensor)
            or x.ndim < 2
            or math.prod(x.shape[1:]) != self.config.dim
        ):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InvalidInputError(
                f"the identity model (dim={self.config.dim}) got input of shape {got}; expected "
                f"(B, {self.config.dim}) vectors; build it with dim equal to the embedding length"
            )
        return EncodeOutput(z=x.flatten(1).float(), logvar=None)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Always raises UnsupportedOperationError: there is no decoder."""
        raise UnsupportedOperationError(_NO_DECODER)

    def loss(self, x: torch.Tensor) -> LossOutput:
        """Always raises UnsupportedOperationError: there is nothing to train."""
        raise UnsupportedOperationError(
            "the identity model has no parameters to train; encode imported embeddings with it "
            "directly, or train a 'vae'/'ae'/'vqvae' model on images"
        )
