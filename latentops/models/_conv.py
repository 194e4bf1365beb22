"""Shared pieces of the conv models: config checks, stride-2 conv stacks, and the conv trunk.

Each stride-2 stage halves the image (k=4, s=2, p=1), so an S x S image needs log2(S / 4)
stages to reach the 4 x 4 map the fully connected head reads. No batch norm: encodings must
not depend on which other items share the batch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latentops._validate import is_int
from latentops.errors import InvalidInputError
from latentops.models.base import Autoencoder

IMAGE_SIZES = (8, 16, 32, 64, 128)
DEFAULT_WIDTHS = (32, 32, 64, 64, 128)  # per stage; a size-S model takes the first n_stages


def check_int(value: object, name: str, low: int, hint: str) -> int:
    """Raise unless ``value`` is an int >= ``low``; return it."""
    if not is_int(value, low):
        raise InvalidInputError(f"{name}={value!r} must be an integer >= {low}; {hint}")
    return value


def check_float(value: object, name: str, low: float, hint: str, *, strict: bool = False) -> float:
    """Raise unless ``value`` is a finite real >= ``low`` (> if strict); return it as float."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        sign = ">" if strict else ">="
        raise InvalidInputError(f"{name}={value!r} must be a finite number {sign} {low}; {hint}")
    return float(value)


def check_image_size(image_size: object) -> int:
    """Raise unless the conv models support ``image_size``."""
    if image_size not in IMAGE_SIZES or isinstance(image_size, bool | float):
        raise InvalidInputError(
            f"image_size={image_size!r} is not supported; use one of {IMAGE_SIZES} "
            "(e.g. 16 for digits upsampled x2, 32 or 64 for dSprites)"
        )
    return int(image_size)  # type: ignore[call-overload]


def resolve_widths(widths: Sequence[int] | None, n_stages: int, image_size: int) -> tuple[int, ...]:
    """Default or validate per-stage conv widths: exactly ``n_stages`` positive ints."""
    if widths is None:
        return DEFAULT_WIDTHS[:n_stages]
    out = tuple(widths)
    if len(out) != n_stages or any(not is_int(w, 1) for w in out):
        raise InvalidInputError(
            f"widths={list(out)} must be {n_stages} positive integers for image_size={image_size} "
            f"(one per stride-2 stage), e.g. {list(DEFAULT_WIDTHS[:n_stages])}"
        )
    return out


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Draw initial weights from ``seed`` without touching the global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def down_stack(in_channels: int, widths: Sequence[int]) -> nn.Sequential:
    """Stride-2 convs: (B, in, S, S) -> (B, widths[-1], S / 2^n, S / 2^n)."""
    layers: list[nn.Module] = []
    for c_in, c_out in zip((in_channels, *widths[:-1]), widths, strict=True):
        layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


def up_stack(widths: Sequence[int], out_channels: int) -> nn.Sequential:
    """Mirror of ``down_stack``: (B, widths[-1], s, s) -> (B, out, s 2^n, s 2^n) logits."""
    chans = (*reversed(widths), out_channels)
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip(chans[:-1], chans[1:], strict=True)):
        layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
        if i < len(chans) - 2:  # no activation on the output logits
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class ConvConfig:
    """Shared config of the conv AE and VAE (images down to a 4x4 map, then an MLP to z)."""

    latent_dim: int = 10
    in_channels: int = 1
    image_size: int = 32
    widths: tuple[int, ...] | None = None  # conv width per stride-2 stage; None: defaults
    fc_width: int = 256  # hidden units between the 4x4 map and z
    seed: int = 0  # initial weights

    def __post_init__(self) -> None:
        check_int(self.latent_dim, "latent_dim", 1, "pass e.g. latent_dim=10")
        check_int(self.in_channels, "in_channels", 1, "use 1 for grayscale, 3 for RGB")
        size = check_image_size(self.image_size)
        check_int(self.fc_width, "fc_width", 1, "pass e.g. fc_width=256")
        check_int(self.seed, "seed", 0, "pass a non-negative integer seed")
        n_stages = int(math.log2(size)) - 2  # down to 4 x 4
        object.__setattr__(self, "widths", resolve_widths(self.widths, n_stages, size))


class ConvEncoder(nn.Module):
    """(B, C, S, S) -> (B, out_features) through the conv stack and a 2-layer MLP."""

    def __init__(self, cfg: ConvConfig, out_features: int) -> None:
        super().__init__()
        widths = cfg.widths or ()
        self.convs = down_stack(cfg.in_channels, widths)
        self.fc1 = nn.Linear(widths[-1] * 16, cfg.fc_width)
        self.fc2 = nn.Linear(cfg.fc_width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x).flatten(1)  # (B, w * 4 * 4)
        return self.fc2(F.relu(self.fc1(h)))  # (B, out_features)


class ConvDecoder(nn.Module):
    """(B, d) -> (B, C, S, S) logits; ``fc1`` is the first linear layer applied to z."""

    def __init__(self, cfg: ConvConfig) -> None:
        super().__init__()
        widths = cfg.widths or ()
        self.fc1 = nn.Linear(cfg.latent_dim, cfg.fc_width)
        self.fc2 = nn.Linear(cfg.fc_width, widths[-1] * 16)
        self.map_channels = widths[-1]
        self.convs = up_stack(widths, cfg.in_channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc2(F.relu(self.fc1(z))))  # (B, w * 4 * 4)
        return self.convs(h.view(-1, self.map_channels, 4, 4))  # (B, C, S, S) logits


def bernoulli_recon(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood summed over pixels, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="sum") / len(x)


class ConvAutoencoder(Autoencoder):
    """Conv encoder to ``encoder_outputs`` features, conv decoder from z: the AE / VAE body."""

    def __init__(self, config: ConvConfig, encoder_outputs: int) -> None:
        super().__init__()
        self.config = config
        with seeded(config.seed):
            self.encoder = ConvEncoder(config, encoder_outputs)
            self.decoder = ConvDecoder(config)

    @property
    def latent_dim(self) -> int:
        """Length d of z."""
        return self.config.latent_dim

    @property
    def x_shape(self) -> tuple[int, ...]:
        """(C, S, S) of one input image."""
        return (self.config.in_channels, self.config.image_size, self.config.image_size)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, S, S) in [0, 1] for z (B, d)."""
        return torch.sigmoid(self.decoder(self.check_z(z)))

    def first_decoder_weight(self) -> torch.Tensor:
        """Weight (fc_width, d) of the decoder's first linear layer on z."""
        return self.decoder.fc1.weight
