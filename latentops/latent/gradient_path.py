"""Edits that follow curved codes: walk up the gradient of a smooth attribute model.

A straight edit z + s v assumes the attribute grows along one line everywhere. When the code is
curved (an attribute laid on an arc), the line that works near one example points the wrong
way elsewhere: the textbook's "nonlinearity" failure mode. ``gradient_path`` instead takes
small unit steps along the gradient of a differentiable attribute model f(z), so the path
bends with the code; strength s is the path's arc length (negative s walks down the gradient).
``kernel_attribute`` is such an f: a Nadaraya-Watson (Gaussian-kernel) smooth of labelled
latents, a k-NN probe made differentiable.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from latentops.errors import InvalidInputError
from latentops.latent._checks import ScalarOrVector, as_grid, as_latents, compute_dtype

Attribute = Callable[[torch.Tensor], torch.Tensor]  # (N, d) -> (N,), differentiable


def kernel_attribute(
    z_ref: torch.Tensor, y_ref: torch.Tensor, bandwidth: float | None = None
) -> Attribute:
    """A smooth attribute model f(z) = sum_i K(z, z_i) y_i / sum_i K(z, z_i), Gaussian K.

    ``bandwidth`` defaults to the median distance from a reference latent to its nearest
    other one, times 2: wide enough to be smooth, narrow enough to follow a curve.
    """
    z_ref = as_latents(z_ref, "z_ref")
    if z_ref.ndim != 2 or z_ref.shape[0] < 2:
        raise InvalidInputError(
            f"z_ref has shape {tuple(z_ref.shape)}; pass (M, d) labelled latents with M >= 2"
        )
    cd = compute_dtype(z_ref.dtype)
    z_ref = z_ref.to(cd)
    y_ref = torch.as_tensor(y_ref, device=z_ref.device).to(cd).reshape(-1)
    if y_ref.shape[0] != z_ref.shape[0] or not torch.isfinite(y_ref).all():
        raise InvalidInputError(
            f"y_ref must hold {z_ref.shape[0]} finite values, one per row of z_ref; "
            f"got shape {tuple(y_ref.shape)}"
        )
    if bandwidth is None:
        dist = torch.cdist(z_ref, z_ref)  # (M, M)
        dist.fill_diagonal_(float("inf"))
        bandwidth = 2.0 * float(dist.min(dim=1).values.median())
    if not bandwidth > 0:
        raise InvalidInputError(f"bandwidth={bandwidth!r} must be > 0, e.g. 0.1")
    scale = 1.0 / (2.0 * bandwidth**2)

    def attribute(z: torch.Tensor) -> torch.Tensor:
        logits = -scale * torch.cdist(z.to(cd), z_ref).square()  # (N, M)
        return logits.softmax(dim=1) @ y_ref  # (N,)

    return attribute


def gradient_path(
    z: torch.Tensor, attribute: Attribute, strengths: ScalarOrVector, *, step: float = 0.05
) -> torch.Tensor:
    """Walk each z (N, d) along the unit gradient of ``attribute``; one row per strength.

    Strength s is the arc length of the walk (steps of at most ``step``), so s = 0 returns z
    and |s| grows with the distance travelled along the path -> (S, N, d).
    """
    z = as_latents(z, "z")
    if z.ndim != 2:
        raise InvalidInputError(f"z has shape {tuple(z.shape)}; pass a batch (N, d)")
    if not step > 0:
        raise InvalidInputError(f"step={step!r} must be > 0, e.g. 0.05 (latent units)")
    cd = compute_dtype(z.dtype)
    s, _ = as_grid(strengths, "strengths", z.device, cd)  # (S,)
    out = torch.empty((s.shape[0], *z.shape), dtype=cd, device=z.device)  # (S, N, d)
    for sign in (1.0, -1.0):
        picked = [i for i in range(s.shape[0]) if (s[i] > 0 if sign > 0 else s[i] <= 0)]
        current, travelled = z.to(cd), 0.0
        for i in sorted(picked, key=lambda i: abs(float(s[i]))):
            target = abs(float(s[i]))
            while travelled < target - 1e-12:
                h = min(step, target - travelled)
                current = current + sign * h * _unit_gradient(attribute, current)
                travelled += h
            out[i] = current
    return out.to(z.dtype)


def _unit_gradient(attribute: Attribute, z: torch.Tensor) -> torch.Tensor:
    """Per-row unit gradient of ``attribute`` at z (N, d); zero rows where it is flat."""
    with torch.enable_grad():
        zz = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(attribute(zz).sum(), zz)  # rows are independent
    norm = grad.norm(dim=1, keepdim=True)  # (N, 1)
    return torch.where(norm > 0, grad / norm.clamp_min(1e-30), torch.zeros_like(grad))
