"""The standard normal prior N(0, I): exact log density, typical shell, and edit constraints.

Under N(0, I) in d dims the norm |z| follows a chi distribution: its mass sits on a thin
shell of radius about √d (mean √2 Γ((d+1)/2) / Γ(d/2), standard deviation → 1/√2), so an
edit that leaves the shell moves the latent somewhere the decoder has rarely seen.
Log densities are returned in float32 for half-precision inputs, else in the input dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from latentops._validate import is_int
from latentops.errors import InvalidInputError
from latentops.latent._checks import as_latents, compute_dtype, pair_shape

LOG_2PI = math.log(2.0 * math.pi)
# Prior samples are drawn in fixed blocks of ids, each from its own (seed, block) stream, so
# sample i never depends on how many are drawn or how they are chunked.
SAMPLE_BLOCK = 1024


def _check_d(d: int) -> int:
    """Validate a latent dimension."""
    if not is_int(d, 1, numpy=True):
        raise InvalidInputError(f"d={d!r} must be a positive int (the latent dimension)")
    return int(d)


def log_prior(z: torch.Tensor) -> torch.Tensor:
    """Exact log N(z; 0, I) = -|z|^2/2 - d/2 log(2π) for each latent: (..., d) -> (...)."""
    z = as_latents(z, "z")
    zc = z.to(compute_dtype(z.dtype))  # (..., d)
    return -0.5 * (zc * zc).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI  # (...)


def prior_samples(item_ids: np.ndarray, d: int, seed: int) -> torch.Tensor:
    """Draws z_i ~ N(0, I_d) for each id i (N,): (N, d) float32, a pure function of (seed, i, d)."""
    d = _check_d(d)
    if not is_int(seed, 0, numpy=True):
        raise InvalidInputError(f"seed={seed!r} must be an int >= 0")
    ids = np.asarray(item_ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu" or (ids.size and ids.min() < 0):
        raise InvalidInputError(
            f"item_ids must be a 1-D array of ints >= 0 (sample indices), got {ids.dtype} "
            f"of shape {ids.shape}"
        )
    z = np.empty((ids.size, d), np.float32)  # (N, d)
    block = ids // SAMPLE_BLOCK
    for b in np.unique(block):
        rows = np.flatnonzero(block == b)
        stream = np.random.default_rng(np.random.SeedSequence([int(seed), int(b)]))
        drawn = stream.standard_normal((SAMPLE_BLOCK, d), dtype=np.float32)  # (BLOCK, d)
        z[rows] = drawn[ids[rows] % SAMPLE_BLOCK]
    return torch.from_numpy(z)


def prior_shell_radius(d: int) -> float:
    """Radius √d of the typical shell where N(0, I) samples in d dims concentrate."""
    return math.sqrt(_check_d(d))


def _chi_mean_std(d: int) -> tuple[float, float]:
    """Mean and standard deviation of |z| for z ~ N(0, I_d) (the chi distribution)."""
    mean = math.sqrt(2.0) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))
    return mean, math.sqrt(max(d - mean * mean, 0.0))


def prior_shell_band(d: int, n_std: float = 3.0) -> tuple[float, float]:
    """Radius band (lo, hi) = chi mean ± n_std chi std holding typical N(0, I_d) samples."""
    d = _check_d(d)
    if not (math.isfinite(n_std) and n_std > 0):
        raise InvalidInputError(f"n_std={n_std!r} must be a positive finite number, e.g. 3.0")
    mean, std = _chi_mean_std(d)
    return max(mean - n_std * std, 0.0), mean + n_std * std


def radius_for_log_prob(min_log_prob: float, d: int) -> float:
    """Largest |z| whose N(0, I_d) log density is still >= ``min_log_prob``."""
    d = _check_d(d)
    peak = -0.5 * d * LOG_2PI  # log density at z = 0, the maximum
    if not math.isfinite(min_log_prob) or min_log_prob > peak:
        raise InvalidInputError(
            f"min_log_prob={min_log_prob!r} is unreachable: the N(0, I) log density in d={d} "
            f"is at most {peak:.4g} (at z = 0); pass a finite floor below that"
        )
    return math.sqrt(-2.0 * (min_log_prob - peak))


def _check_band(band: tuple[float, float]) -> tuple[float, float]:
    """Validate a radius band (lo, hi) with 0 <= lo <= hi, lo finite."""
    try:
        lo, hi = (float(x) for x in band)
    except (TypeError, ValueError):
        lo = hi = math.nan  # not two numbers
    if not (math.isfinite(lo) and 0.0 <= lo <= hi):
        raise InvalidInputError(
            f"band={band!r} must be (lo, hi) with 0 <= lo <= hi and lo finite; "
            "e.g. prior_shell_band(d)"
        )
    return lo, hi


def project_to_prior(
    z: torch.Tensor,
    *,
    band: tuple[float, float] | None = None,
    min_log_prob: float | None = None,
) -> torch.Tensor:
    """Rescale each latent radially into a norm band and/or above a log-density floor.

    Radial rescaling is the exact Euclidean projection onto {lo <= |z| <= hi}: latents
    already inside are returned unchanged, the others keep their direction. A log-density
    floor is the ball |z| <= ``radius_for_log_prob(min_log_prob, d)``. With neither
    argument the band is ``prior_shell_band(d)`` (chi mean ± 3 std).
    """
    z = as_latents(z, "z")
    d = z.shape[-1]
    if band is None and min_log_prob is None:
        band = prior_shell_band(d)
    lo, hi = (0.0, math.inf) if band is None else _check_band(band)
    if min_log_prob is not None:
        hi = min(hi, radius_for_log_prob(min_log_prob, d))
        if hi < lo:
            raise InvalidInputError(
                f"min_log_prob={min_log_prob!r} allows |z| <= {hi:.4g}, below the band's lower "
                f"radius {lo:.4g}; lower the floor or the band"
            )
    zc = z.to(compute_dtype(z.dtype))  # (..., d)
    r = torch.linalg.vector_norm(zc, dim=-1, keepdim=True)  # (..., 1)
    if lo > 0 and bool((r == 0).any()):
        raise InvalidInputError(
            f"z has {int((r == 0).sum())} zero latent(s), which have no direction to push out "
            f"to radius {lo:.4g}; drop them or use band=(0, hi)"
        )
    scale = torch.where(r > 0, r.clamp(lo, hi) / r.clamp_min(torch.finfo(r.dtype).tiny), 1.0)
    return (zc * scale).to(z.dtype)


@dataclass(frozen=True)
class PriorShift:
    """How far edited latents sit from the N(0, I) prior, per latent (tensors of shape (...))."""

    log_prob_before: torch.Tensor
    log_prob_after: torch.Tensor
    delta_log_prob: torch.Tensor  # after - before; negative = less likely under the prior
    radius_before: torch.Tensor
    radius_after: torch.Tensor
    radius_ratio: torch.Tensor  # radius_after / √d; 1 is on the typical shell
    shell_z: torch.Tensor  # (radius_after - chi mean) / chi std: shell distance in prior stds
    outside_shell: torch.Tensor  # bool: radius_after outside prior_shell_band(d, n_std)

    def summary(self) -> dict[str, float]:
        """Means over all latents (and the fraction outside the shell), for reports."""
        return {
            "log_prob_before": float(self.log_prob_before.float().mean()),
            "log_prob_after": float(self.log_prob_after.float().mean()),
            "delta_log_prob": float(self.delta_log_prob.float().mean()),
            "radius_before": float(self.radius_before.float().mean()),
            "radius_after": float(self.radius_after.float().mean()),
            "radius_ratio": float(self.radius_ratio.float().mean()),
            "shell_z": float(self.shell_z.float().mean()),
            "frac_outside_shell": float(self.outside_shell.float().mean()),
        }


def prior_shift(z_before: torch.Tensor, z_after: torch.Tensor, *, n_std: float = 3.0) -> PriorShift:
    """Compare latents before and after an edit under N(0, I); shapes broadcast, e.g. (S, N, d)."""
    z_before = as_latents(z_before, "z_before")
    z_after = as_latents(z_after, "z_after")
    shape = pair_shape(z_before, z_after, "z_before", "z_after")  # (..., d)
    d = shape[-1]
    lo, hi = prior_shell_band(d, n_std)  # validates n_std
    mean, std = _chi_mean_std(d)
    lp0, lp1 = log_prior(z_before), log_prior(z_after)  # (...)
    r0 = torch.linalg.vector_norm(z_before.to(lp0.dtype), dim=-1)  # (...)
    r1 = torch.linalg.vector_norm(z_after.to(lp1.dtype), dim=-1)
    shell_z = (r1 - mean) / std
    batch = shape[:-1]
    return PriorShift(
        log_prob_before=lp0.expand(batch),
        log_prob_after=lp1.expand(batch),
        delta_log_prob=lp1 - lp0,
        radius_before=r0.expand(batch),
        radius_after=r1.expand(batch),
        radius_ratio=(r1 / math.sqrt(d)).expand(batch),
        shell_z=shell_z.expand(batch),
        outside_shell=((r1 < lo) | (r1 > hi)).expand(batch),
    )
