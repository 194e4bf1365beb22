"""Linear and spherical interpolation between latents, batched over pairs and over t.

Shapes: z0, z1 are (..., d) and broadcast against each other; t is a float (result (..., d))
or a 1-D grid of T values (result (T, ..., d)). One broadcasted expression replaces the
textbook "for alpha in alphas: ...; torch.stack(...)" loop. Half-precision inputs are
computed in float32 and cast back, so float16/bfloat16 never overflow into NaN.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from latentops._validate import is_int
from latentops.errors import InvalidInputError
from latentops.latent._checks import (
    ScalarOrVector,
    as_grid,
    as_latents,
    compute_dtype,
    lead,
    pair_shape,
)

DEFAULT_EPS = 1e-6  # radians; below it two directions count as parallel (or antipodal)


def _prepare(
    z0: torch.Tensor, z1: torch.Tensor, t: ScalarOrVector
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool, torch.Size, torch.dtype]:
    """Validate a pair and t; return z0, z1 and t in the compute dtype, plus shapes/dtypes."""
    z0 = as_latents(z0, "z0")
    z1 = as_latents(z1, "z1")
    shape = pair_shape(z0, z1, "z0", "z1")  # (..., d)
    out_dtype = torch.promote_types(z0.dtype, z1.dtype)
    cd = compute_dtype(out_dtype)
    tt, scalar = as_grid(t, "t", z0.device, cd)  # (T,)
    return z0.to(cd), z1.to(cd), tt, scalar, shape, out_dtype


def _finish(
    out: torch.Tensor,
    tt: torch.Tensor,
    z0: torch.Tensor,
    z1: torch.Tensor,
    scalar: bool,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """Pin t == 0 / t == 1 to the exact endpoints, drop the T axis for scalar t, cast back."""
    # Pinning makes the endpoint guarantee independent of rounding in sin/cos/lerp kernels.
    out[tt == 0] = z0
    out[tt == 1] = z1
    out = out.to(out_dtype)
    return out[0] if scalar else out


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: ScalarOrVector) -> torch.Tensor:
    """Linear interpolation (1 - t) z0 + t z1; any finite t (t outside [0, 1] extrapolates)."""
    z0, z1, tt, scalar, shape, out_dtype = _prepare(z0, z1, t)
    out = torch.lerp(z0, z1, lead(tt, len(shape)))  # (T, ..., d)
    return _finish(out, tt, z0, z1, scalar, out_dtype)


def _orthogonal_unit(u: torch.Tensor) -> torch.Tensor:
    """A deterministic unit vector orthogonal to each unit row of ``u`` (needs d >= 2)."""
    # Gram-Schmidt on the axis where |u_k| is smallest: |e_k - u_k u|^2 = 1 - u_k^2 >= 1 - 1/d.
    k = u.abs().argmin(dim=-1, keepdim=True)  # (..., 1)
    e = torch.zeros_like(u).scatter_(-1, k, 1.0)  # (..., d)
    w = e - u.gather(-1, k) * u  # (..., d)
    return w / torch.linalg.vector_norm(w, dim=-1, keepdim=True)


def slerp(
    z0: torch.Tensor, z1: torch.Tensor, t: ScalarOrVector, *, eps: float = DEFAULT_EPS
) -> torch.Tensor:
    """Spherical interpolation: the direction moves along the great circle, the norm linearly.

    For equal norms this is the textbook sin((1-t)Ω)/sin Ω z0 + sin(tΩ)/sin Ω z1, so unit
    vectors stay on the unit sphere with constant angular speed. For unequal norms the
    direction is slerped and the norm interpolated linearly, |z(t)| = (1-t)|z0| + t|z1|.
    t must lie in [0, 1]. Degenerate pairs (Ω is the angle between z0/|z0| and z1/|z1|):
    - Ω < eps (parallel): falls back to ``lerp``.
    - Ω > π - eps (antipodal): the great circle is not unique; we take the one through a
      fixed unit vector orthogonal to z0 (Gram-Schmidt on the coordinate axis where |z0|
      is smallest), so the path is deterministic and still norm-interpolating. With d == 1
      there is no such circle and the pair falls back to ``lerp`` (through the origin).
    - a zero vector at either end has no direction and raises InvalidInputError.
    """
    if not 0 < eps < math.pi / 2:
        raise InvalidInputError(f"eps={eps!r} must be in (0, pi/2) radians; the default is 1e-6")
    z0, z1, tt, scalar, shape, out_dtype = _prepare(z0, z1, t)
    if bool(((tt < 0) | (tt > 1)).any()):
        raise InvalidInputError(
            f"slerp needs t in [0, 1], got values from {float(tt.min())} to {float(tt.max())}; "
            "use lerp to extrapolate beyond the endpoints"
        )
    r0 = torch.linalg.vector_norm(z0, dim=-1, keepdim=True)  # (..., 1)
    r1 = torch.linalg.vector_norm(z1, dim=-1, keepdim=True)
    for r, name in ((r0, "z0"), (r1, "z1")):
        zero = (r == 0).squeeze(-1)
        if bool(zero.any()):
            where = tuple(zero.nonzero()[0].tolist())
            raise InvalidInputError(
                f"{name} has a zero vector at index {where} (of {int(zero.sum())} zero rows); "
                "slerp needs a direction at both ends, use lerp for paths through the origin"
            )
    u0, u1 = z0 / r0, z1 / r1  # (..., d) unit
    cos = (u0 * u1).sum(-1, keepdim=True).clamp(-1.0, 1.0)  # (..., 1)
    # The angle from atan2(|perp|, cos) stays accurate near 0 and π where acos(cos) does not.
    perp = u1 - cos * u0  # (..., d) component of u1 orthogonal to u0
    sin = torch.linalg.vector_norm(perp, dim=-1, keepdim=True)  # (..., 1)
    omega = torch.atan2(sin, cos)  # (..., 1) in [0, π]
    d = shape[-1]
    antipodal = omega > math.pi - eps  # (..., 1)
    parallel = (omega < eps) | antipodal if d == 1 else omega < eps
    w = perp / sin.clamp_min(torch.finfo(sin.dtype).tiny)  # (..., d) unit, junk if degenerate
    if d > 1 and bool(antipodal.any()):
        w = torch.where(antipodal, _orthogonal_unit(u0), w)
    # Every path is z(t) = A(t) z0 + B(t) W: slerp uses W = w (unit, ⟂ z0) with
    # A = r(t) cos(tΩ) / r0, B = r(t) sin(tΩ); the lerp fallback uses W = z1 - z0, A = 1, B = t.
    W = torch.where(parallel, z1 - z0, w)  # (..., d)
    T = lead(tt, len(shape))  # (T, 1, ..., 1)
    rt = torch.lerp(r0, r1, T)  # (T, ..., 1) linearly interpolated norm
    A = torch.where(parallel, 1.0, rt / r0 * torch.cos(T * omega))  # (T, ..., 1)
    B = torch.where(parallel, T, rt * torch.sin(T * omega))  # (T, ..., 1)
    out = (A * z0).addcmul_(B, W)  # (T, ..., d)
    return _finish(out, tt, z0, z1, scalar, out_dtype)


def interpolate(
    z0: torch.Tensor,
    z1: torch.Tensor,
    steps: int,
    method: Literal["slerp", "lerp"] = "slerp",
) -> torch.Tensor:
    """``steps`` evenly spaced points from z0 to z1 inclusive -> (steps, ..., d), ends exact."""
    if not is_int(steps, 2, numpy=True):
        raise InvalidInputError(
            f"steps={steps!r} must be an int >= 2 so the path includes both endpoints"
        )
    fns = {"slerp": slerp, "lerp": lerp}
    if method not in fns:
        raise InvalidInputError(f"method={method!r} is unknown; use one of {sorted(fns)}")
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)  # ends are exactly 0 and 1
    return fns[method](z0, z1, t)
