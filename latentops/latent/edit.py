"""Direction edits, traversals and latent arithmetic, batched over latents and strengths.

A 1-D grid of S strengths produces all S edits in one broadcasted op -> (S, ..., d),
instead of the textbook loop over strengths followed by torch.stack / torch.cat.
Half-precision inputs are computed in float32 and cast back.
"""

from __future__ import annotations

import numpy as np
import torch

from latentops._validate import check_last_dim
from latentops.errors import InvalidInputError
from latentops.latent._checks import (
    ScalarOrVector,
    as_grid,
    as_latents,
    as_real,
    check_index,
    compute_dtype,
    lead,
    pair_shape,
    same_device,
    unit,
)


def _shift(z: torch.Tensor, v: torch.Tensor, strength: ScalarOrVector) -> tuple[torch.Tensor, bool]:
    """Return (z + s * v/|v| for every s -> (S, ..., d), whether strength was a scalar)."""
    z = as_latents(z, "z")
    v = as_latents(v, "v")
    shape = pair_shape(z, v, "z", "v")  # (..., d)
    out_dtype = torch.promote_types(z.dtype, v.dtype)
    cd = compute_dtype(out_dtype)
    u = unit(v, "v", cd)  # (..., d)
    s, scalar = as_grid(strength, "strength", z.device, cd)  # (S,)
    step = lead(s, len(shape)) * u  # (S, 1, ..., d): tiny, so the big op is one add
    return (z.to(cd) + step).to(out_dtype), scalar  # (S, ..., d)


def apply_direction(z: torch.Tensor, v: torch.Tensor, strength: ScalarOrVector) -> torch.Tensor:
    """z + strength * v/|v|; a 1-D strength (S,) returns every edit at once -> (S, ..., d)."""
    out, scalar = _shift(z, v, strength)
    return out[0] if scalar else out


def direction_traversal(
    z: torch.Tensor, v: torch.Tensor, strengths: ScalarOrVector
) -> torch.Tensor:
    """Walk each latent along the unit direction v: one row per strength -> (S, ..., d)."""
    out, _ = _shift(z, v, strengths)
    return out


def _alphas(
    alphas: ScalarOrVector, k: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Validate per-direction strengths: (k,) or (S, k) finite real numbers."""
    a = as_real(alphas, "alphas", f"a (k,) or (S, k) array of floats with k={k}")
    if a.ndim not in (1, 2) or a.shape[-1] != k:
        raise InvalidInputError(
            f"alphas has shape {tuple(a.shape)} but must be (k,) or (S, k) with k={k}, "
            "one strength per row of V"
        )
    return a.to(device=device, dtype=dtype)


def apply_directions(
    z: torch.Tensor, V: torch.Tensor, alphas: ScalarOrVector, *, normalize: bool = True
) -> torch.Tensor:
    """z + Σ_i α_i v_i for k directions V (k, d); alphas (k,) -> (..., d), (S, k) -> (S, ..., d).

    With ``normalize`` (default) each v_i is scaled to unit norm first, so α_i means the same
    as ``strength`` in ``apply_direction``; pass ``normalize=False`` to add V's rows as they are.
    """
    z = as_latents(z, "z")
    V = as_latents(V, "V")
    if V.ndim != 2:
        raise InvalidInputError(
            f"V has shape {tuple(V.shape)} but must be (k, d), one direction per row; "
            "stack directions with torch.stack([...])"
        )
    check_last_dim(V, z.shape[-1], "V", "z")
    same_device(z, V, "z", "V")
    out_dtype = torch.promote_types(z.dtype, V.dtype)
    cd = compute_dtype(out_dtype)
    U = unit(V, "V", cd) if normalize else V.to(cd)  # (k, d)
    a = _alphas(alphas, V.shape[0], z.device, cd)  # (k,) or (S, k)
    delta = a @ U  # (d,) or (S, d): the combined edit, computed once
    if a.ndim == 2:
        delta = delta.reshape(a.shape[0], *([1] * (z.ndim - 1)), z.shape[-1])  # (S, 1, ..., d)
    return (z.to(cd) + delta).to(out_dtype)


def coordinate_traversal(z: torch.Tensor, dim: int, values: ScalarOrVector) -> torch.Tensor:
    """Set coordinate ``dim`` of every latent to each value in turn: z (..., d) -> (V, ..., d)."""
    z = as_latents(z, "z")
    j = check_index(dim, z.shape[-1], "dim", "the latent dim d")
    vals, _ = as_grid(values, "values", z.device, z.dtype)  # (V,)
    out = z.unsqueeze(0).repeat(vals.shape[0], *([1] * z.ndim))  # (V, ..., d)
    out[..., j] = lead(vals, z.ndim - 1)  # (V, 1, ...) broadcast over the latents
    return out


def _centroid(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """A (d,) vector as is, or the mean of a (n, d) set."""
    x = as_latents(x, name)
    if x.ndim > 2:
        raise InvalidInputError(
            f"{name} has shape {tuple(x.shape)} but must be a (d,) vector or an (n, d) set; "
            f"flatten the set with {name}.reshape(-1, d)"
        )
    return x


def latent_arithmetic(
    a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, c: torch.Tensor | np.ndarray
) -> torch.Tensor:
    """a - b + c -> (d,); each argument is a (d,) vector or an (n, d) set replaced by its mean."""
    xs = [_centroid(x, n) for x, n in ((a, "a"), (b, "b"), (c, "c"))]
    for x, n in zip(xs[1:], "bc", strict=True):
        check_last_dim(x, xs[0].shape[-1], n, "a")
        same_device(xs[0], x, "a", n)
    out_dtype = torch.promote_types(torch.promote_types(xs[0].dtype, xs[1].dtype), xs[2].dtype)
    cd = compute_dtype(out_dtype)
    ma, mb, mc = (x.to(cd).mean(0) if x.ndim == 2 else x.to(cd) for x in xs)  # (d,) each
    return (ma - mb + mc).to(out_dtype)
