"""VQ-VAE: a conv encoder to a (D, h, w) map, snapped token by token to a K x D codebook.

Gradients pass the quantiser by the straight-through estimator (z_e + sg(z_q - z_e)); the
encoder is held near its codes by the commitment term beta * ||z_e - sg(e)||^2, and the codes
follow their tokens by exponential moving averages (van den Oord et al. 2017, appendix), with
unused codes restarted at random encoder outputs so the codebook does not collapse.
``encode`` returns the quantised map flattened to (B, D*h*w) so it fits a latent table;
``encode_indices`` / ``decode_indices`` work on the (B, h, w) token map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from latentops.errors import InvalidInputError
from latentops.models._conv import (
    DEFAULT_WIDTHS,
    bernoulli_recon,
    check_float,
    check_image_size,
    check_int,
    down_stack,
    resolve_widths,
    seeded,
    up_stack,
)
from latentops.models.base import Autoencoder, EncodeOutput, LossOutput


@dataclass(frozen=True)
class VQVAEConfig:
    """VQ-VAE config; the token map is image_size / 2^len(widths) on a side (default 8, or 4)."""

    num_embeddings: int = 64  # codebook size K
    embedding_dim: int = 16  # code width D
    commitment_cost: float = 0.25  # beta in beta * ||z_e - sg(e)||^2
    ema_decay: float = 0.99  # codebook moving-average decay per training step
    in_channels: int = 1
    image_size: int = 32
    widths: tuple[int, ...] | None = None  # conv width per stride-2 stage; None: defaults
    seed: int = 0  # initial weights

    def __post_init__(self) -> None:
        check_int(self.num_embeddings, "num_embeddings", 1, "pass e.g. num_embeddings=64")
        check_int(self.embedding_dim, "embedding_dim", 1, "pass e.g. embedding_dim=16")
        cost = check_float(self.commitment_cost, "commitment_cost", 0.0, "0.25 is the usual value")
        object.__setattr__(self, "commitment_cost", cost)
        decay = check_float(self.ema_decay, "ema_decay", 0.0, "0.99 is the usual value")
        if decay >= 1:
            raise InvalidInputError(f"ema_decay={decay} must be < 1 or the codebook never learns")
        object.__setattr__(self, "ema_decay", decay)
        check_int(self.in_channels, "in_channels", 1, "use 1 for grayscale, 3 for RGB")
        size = check_image_size(self.image_size)
        check_int(self.seed, "seed", 0, "pass a non-negative integer seed")
        max_stages = int(math.log2(size))
        if self.widths is None:  # an 8 x 8 token map (4 x 4 for 8- and 16-pixel images)
            widths = DEFAULT_WIDTHS[: max(1, max_stages - 3)]
        else:
            n = len(self.widths)
            if not 1 <= n <= max_stages:
                raise InvalidInputError(
                    f"widths has {n} stages but image_size={size} allows 1..{max_stages} "
                    "(each stage halves the token map); pass e.g. widths=[32, 32]"
                )
            widths = resolve_widths(self.widths, n, size)
        object.__setattr__(self, "widths", widths)


class VQVAE(Autoencoder):
    """Vector-quantised autoencoder with a straight-through estimator."""

    arch = "vqvae"

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.widths or ()
        k, d = config.num_embeddings, config.embedding_dim
        with seeded(config.seed):
            self.encoder = nn.Sequential(
                down_stack(config.in_channels, widths), nn.Conv2d(widths[-1], d, 1)
            )
            self.embedding = nn.Embedding(k, d)
            nn.init.uniform_(self.embedding.weight, -1.0 / k, 1.0 / k)
            self.decoder = nn.Sequential(
                nn.Conv2d(d, widths[-1], 3, padding=1),
                nn.ReLU(),
                up_stack(widths, config.in_channels),
            )
        self.embedding.weight.requires_grad_(False)  # learned by EMA, not by the optimiser
        # EMA of assignments per code and of the sum of their vectors; all-zero counts make every
        # code "dead" at the first training step, so codes start as that batch's encoder outputs
        self.register_buffer("ema_count", torch.zeros(k))
        self.register_buffer("ema_sum", torch.zeros(k, d))
        side = config.image_size // 2 ** len(widths)
        self._token_shape = (d, side, side)

    @property
    def token_shape(self) -> tuple[int, int, int]:
        """(D, h, w) of the quantised map."""
        return self._token_shape

    @property
    def latent_dim(self) -> int:
        """D * h * w: length of the flattened quantised map."""
        return math.prod(self._token_shape)

    @property
    def x_shape(self) -> tuple[int, ...]:
        """(C, S, S) of one input image."""
        return (self.config.in_channels, self.config.image_size, self.config.image_size)

    @property
    def codebook(self) -> torch.Tensor:
        """The (K, D) code vectors (detached)."""
        return self.embedding.weight.detach()

    def _quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest code per token: z_e (B, D, h, w) -> indices (B, h, w), z_q (B, D, h, w)."""
        b, d, h, w = z_e.shape
        # distances in float32 even under AMP: bf16 ties would flip the argmin
        with torch.autocast(device_type=z_e.device.type, enabled=False):
            flat = z_e.permute(0, 2, 3, 1).reshape(-1, d).float()  # (B*h*w, D)
            e = self.embedding.weight.float()  # (K, D)
            dist = flat.square().sum(1, keepdim=True) - 2 * flat @ e.T + e.square().sum(1)  # (N, K)
            idx = dist.argmin(1).view(b, h, w)  # (B, h, w)
        return idx, self._lookup(idx)

    @torch.no_grad()
    def _update_codebook(self, z_e: torch.Tensor, idx: torch.Tensor, counts: torch.Tensor) -> None:
        """EMA k-means step on this batch's tokens, then restart codes that fell out of use."""
        k, decay = self.config.num_embeddings, self.config.ema_decay
        tokens = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])  # (N, D)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx.flatten(), tokens)  # (K, D)
        self.ema_count.mul_(decay).add_(counts, alpha=1 - decay)
        self.ema_sum.mul_(decay).add_(sums, alpha=1 - decay)
        total = self.ema_count.sum()
        # a code is dead below 0.1% of assignments; it restarts at a random token of this batch
        # with an average count, which gives it a few hundred steps to attract tokens. torch.where
        # instead of `if dead.any()` keeps the step free of host syncs.
        dead = (self.ema_count <= 1e-3 * total)[:, None]  # (K, 1)
        fresh = tokens[torch.randint(len(tokens), (k,), device=tokens.device)]  # (K, D)
        self.ema_count.copy_(torch.where(dead[:, 0], total / k, self.ema_count))
        self.ema_sum.copy_(torch.where(dead, fresh * (total / k), self.ema_sum))
        # Laplace smoothing keeps rarely used codes from dividing by ~0
        n = self.ema_count.sum()
        smoothed = (self.ema_count + 1e-5) / (n + k * 1e-5) * n  # (K,)
        self.embedding.weight.copy_(self.ema_sum / smoothed[:, None])

    def _lookup(self, idx: torch.Tensor) -> torch.Tensor:
        return self.embedding(idx).permute(0, 3, 1, 2)  # (B, h, w, D) -> (B, D, h, w)

    def encode_stats(self, x: torch.Tensor) -> EncodeOutput:
        """Quantised map flattened to z (B, D*h*w); no variance."""
        _, z_q = self._quantize(self.encoder(self.check_x(x)))
        return EncodeOutput(z=z_q.flatten(1), logvar=None)

    def encode_indices(self, x: torch.Tensor) -> torch.Tensor:
        """Code index per token, (B, h, w) long."""
        idx, _ = self._quantize(self.encoder(self.check_x(x)))
        return idx

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, C, S, S) in [0, 1] from flat maps z (B, D*h*w), quantised or not."""
        z_map = self.check_z(z).view(-1, *self._token_shape)  # (B, D, h, w)
        return torch.sigmoid(self.decoder(z_map))

    def decode_indices(self, idx: torch.Tensor) -> torch.Tensor:
        """Images (B, C, S, S) in [0, 1] from token maps idx (B, h, w) of code indices."""
        k, (_, h, w) = self.config.num_embeddings, self._token_shape
        if (
            not isinstance(idx, torch.Tensor)
            or idx.dtype not in (torch.int64, torch.int32)
            or tuple(idx.shape[1:]) != (h, w)
            or idx.ndim != 3
        ):
            got = (tuple(idx.shape), idx.dtype) if isinstance(idx, torch.Tensor) else type(idx)
            raise InvalidInputError(
                f"token map has shape/dtype {got}; expected a (B, {h}, {w}) integer tensor "
                "from encode_indices"
            )
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= k):
            raise InvalidInputError(
                f"token indices span [{int(idx.min())}, {int(idx.max())}] but the codebook has "
                f"K={k} entries; use indices in [0, {k - 1}]"
            )
        return torch.sigmoid(self.decoder(self._lookup(idx.long())))

    def loss(self, x: torch.Tensor) -> LossOutput:
        """Reconstruction + commitment loss, straight-through to the encoder; EMA codebook step."""
        z_e = self.encoder(self.check_x(x)).float()  # (B, D, h, w)
        idx, z_q = self._quantize(z_e)
        # index_add_ rather than bincount: bincount reads max(idx) back to the host on CUDA
        flat = idx.flatten()  # (N,)
        counts = z_e.new_zeros(self.config.num_embeddings).index_add_(
            0, flat, torch.ones_like(flat, dtype=z_e.dtype)
        )  # (K,) tokens per code
        if self.training:
            self._update_codebook(z_e.detach(), idx, counts)
        z_st = z_e + (z_q - z_e).detach()  # forward: z_q; backward: identity into z_e
        recon = bernoulli_recon(self.decoder(z_st), x)
        # summed per item like recon, so commitment_cost keeps its usual meaning against it
        commitment = (z_e - z_q.detach()).square().sum((1, 2, 3)).mean()
        reg = self.config.commitment_cost * commitment
        p = counts / counts.sum()  # (K,) code usage in this batch
        perplexity = torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum())
        extras = {"commitment": commitment, "perplexity": perplexity}
        return LossOutput(loss=recon + reg, recon=recon, reg=reg, extras=extras)
