"""Vector-quantized latents: nearest-code lookup, token-map edits, codebook statistics.

Token maps are channel-first as in conv VQ-VAEs: encoder outputs h (B, D, *spatial)
(e.g. (B, D, H, W)) quantize to indices (B, *spatial) and decode back to (B, D, *spatial);
flat batches h (N, D) give indices (N,). A codebook is (K, D). Indices are int64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from latentops._validate import is_int
from latentops.errors import InvalidInputError
from latentops.latent._checks import as_latents, as_torch, compute_dtype, same_device

# Elements of one (chunk, K) distance matrix: 4M float32 = 16 MiB, whatever the token count.
_DIST_BUDGET = 1 << 22


def _check_codebook(codebook: torch.Tensor) -> torch.Tensor:
    """A finite (K, D) float codebook."""
    codebook = as_latents(codebook, "codebook")
    if codebook.ndim != 2:
        raise InvalidInputError(
            f"codebook has shape {tuple(codebook.shape)} but must be (K, D), one code per row"
        )
    return codebook


def _check_code(code: int, name: str, num_codes: int | None) -> int:
    """A code id: a non-negative int, below ``num_codes`` when given."""
    if isinstance(code, torch.Tensor) and code.numel() == 1 and not code.is_floating_point():
        code = int(code)
    if not is_int(code, numpy=True):
        raise InvalidInputError(
            f"{name} must be an int code id, got {type(code).__name__} {code!r}"
        )
    if code < 0 or (num_codes is not None and code >= num_codes):
        bound = "" if num_codes is None else f" and < K={num_codes}"
        raise InvalidInputError(f"{name}={code} is not a valid code id; use an int >= 0{bound}")
    return int(code)


def _check_indices(
    indices: torch.Tensor, num_codes: int | None, name: str = "indices"
) -> torch.Tensor:
    """A non-empty integer tensor of code ids in [0, num_codes)."""
    indices = as_torch(indices, name, "an integer torch.Tensor")
    if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
        raise InvalidInputError(
            f"{name} has dtype {indices.dtype} but code ids must be integers; use {name}.long()"
        )
    if indices.ndim == 0 or indices.numel() == 0:
        raise InvalidInputError(
            f"{name} has shape {tuple(indices.shape)}; pass at least one code id"
        )
    lo, hi = int(indices.min()), int(indices.max())
    if lo < 0 or (num_codes is not None and hi >= num_codes):
        bad = lo if lo < 0 else hi
        raise InvalidInputError(
            f"{name} holds code id {bad} but ids must be in [0, {num_codes}) for a codebook of "
            f"K={num_codes} codes; were they made with another codebook?"
            if num_codes is not None
            else f"{name} holds a negative code id {bad}; ids must be >= 0"
        )
    return indices


def _rows(h: torch.Tensor, D: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Flatten h (N, D) or (B, D, *spatial) to rows (M, D); return them and the index shape."""
    if h.ndim < 2 or h.shape[1] != D:
        raise InvalidInputError(
            f"h has shape {tuple(h.shape)} but must be (N, D) or channel-first (B, D, H, W) "
            f"with D={D} matching the codebook; move channels to dim 1, e.g. h.permute(0, 3, 1, 2)"
        )
    if h.ndim == 2:
        return h, (h.shape[0],)
    index_shape = (h.shape[0], *h.shape[2:])
    return h.movedim(1, -1).reshape(-1, D), index_shape  # (B*H*W, D)


def quantize(
    h: torch.Tensor, codebook: torch.Tensor, chunk_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest codebook entry per vector: -> (indices (N,) or (B, H, W), z_q shaped like h).

    Uses argmin_k |e_k|^2 - 2 h·e_k (|h|^2 is constant per row), ``chunk_size`` rows at a
    time so the (rows, K) distance matrix stays bounded (default: about 4M entries). z_q holds
    the exact codebook rows (codebook dtype). Ties within float rounding pick either entry.
    """
    h = as_latents(h, "h")
    codebook = _check_codebook(codebook)
    same_device(h, codebook, "h", "codebook")
    K, D = codebook.shape
    rows, index_shape = _rows(h, D)  # (M, D)
    if chunk_size is None:
        chunk_size = max(1, _DIST_BUDGET // K)
    if not is_int(chunk_size, 1):
        raise InvalidInputError(
            f"chunk_size={chunk_size!r} must be a positive int (rows per chunk)"
        )
    cd = compute_dtype(torch.promote_types(h.dtype, codebook.dtype))
    E = codebook.to(cd)  # (K, D)
    e2 = (E * E).sum(1)  # (K,)
    idx = torch.empty(rows.shape[0], dtype=torch.long, device=h.device)  # (M,)
    for start in range(0, rows.shape[0], chunk_size):
        x = rows[start : start + chunk_size].to(cd)  # (c, D)
        dist = torch.addmm(e2, x, E.T, alpha=-2.0)  # (c, K) = |e|^2 - 2 x·e
        idx[start : start + x.shape[0]] = dist.argmin(1)
    indices = idx.reshape(index_shape)
    return indices, codes_to_latents(indices, codebook)


def codes_to_latents(indices: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Decoder-ready latents: indices (N,) -> (N, D); (B, H, W) -> channel-first (B, D, H, W)."""
    codebook = _check_codebook(codebook)
    indices = _check_indices(indices, codebook.shape[0])
    same_device(indices, codebook, "indices", "codebook")
    z = codebook[indices]  # (..., D)
    return z if indices.ndim == 1 else z.movedim(-1, 1).contiguous()  # (B, D, *spatial)


def _mask_from(positions: torch.Tensor | Sequence, indices: torch.Tensor) -> torch.Tensor:
    """A bool mask shaped like ``indices`` from a mask or from (M, ndim) integer coordinates."""
    try:
        p = torch.as_tensor(positions, device=indices.device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(
            f"positions must be a bool mask or integer coordinates ({exc})"
        ) from None
    if p.dtype == torch.bool:
        if p.shape != indices.shape:
            raise InvalidInputError(
                f"positions mask has shape {tuple(p.shape)} but indices has "
                f"{tuple(indices.shape)}; pass a mask of the same shape"
            )
        return p
    if p.is_floating_point() or p.is_complex():
        raise InvalidInputError(
            f"positions has dtype {p.dtype}; pass a bool mask or integer coordinates"
        )
    if p.ndim == 1 and indices.ndim == 1:
        p = p[:, None]  # a list of positions into a flat index vector
    if p.ndim != 2 or p.shape[1] != indices.ndim:
        raise InvalidInputError(
            f"positions has shape {tuple(p.shape)} but coordinates must be (M, {indices.ndim}): "
            f"one (b, h, w, ...) row per token to replace in indices {tuple(indices.shape)}"
        )
    limits = torch.tensor(indices.shape, device=p.device)  # (ndim,)
    bad = ((p < 0) | (p >= limits)).any(1)  # (M,)
    if bool(bad.any()):
        raise InvalidInputError(
            f"positions row {p[bad][0].tolist()} is outside indices of shape {tuple(indices.shape)}"
        )
    mask = torch.zeros_like(indices, dtype=torch.bool)
    mask[tuple(p.T)] = True
    return mask


def replace_codes(
    indices: torch.Tensor,
    positions: torch.Tensor | Sequence,
    new_code: int,
    *,
    num_codes: int | None = None,
) -> torch.Tensor:
    """Copy of ``indices`` with ``new_code`` at ``positions`` (a bool mask or (M, ndim) coords)."""
    indices = _check_indices(indices, num_codes)
    new_code = _check_code(new_code, "new_code", num_codes)
    return indices.masked_fill(_mask_from(positions, indices), new_code)


def swap_code(
    indices: torch.Tensor, old: int, new: int, *, num_codes: int | None = None
) -> torch.Tensor:
    """Copy of ``indices`` with every occurrence of code ``old`` replaced by ``new``."""
    indices = _check_indices(indices, num_codes)
    old = _check_code(old, "old", num_codes)
    new = _check_code(new, "new", num_codes)
    return indices.masked_fill(indices == old, new)


def codebook_usage(indices: torch.Tensor, num_codes: int) -> tuple[torch.Tensor, float]:
    """Counts per code (K,) and perplexity exp(H(p)) of code usage (1 = one code, K = uniform)."""
    if not is_int(num_codes, 1):
        raise InvalidInputError(f"num_codes={num_codes!r} must be a positive int (codebook size K)")
    indices = _check_indices(indices, num_codes)
    counts = torch.bincount(indices.reshape(-1), minlength=num_codes)  # (K,)
    p = counts[counts > 0].double() / indices.numel()
    return counts, math.exp(float(-(p * p.log()).sum()))
