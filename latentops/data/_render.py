"""Vectorised torch rendering of dSprites shapes from signed distance functions.

Each shape is a signed distance function (negative inside) in a local frame where the shape's
radius is about 1. Pixels are mapped into that frame by translating, rotating and scaling the
pixel-centre grid of the whole batch at once; coverage is ``clamp(0.5 - distance_in_pixels)``,
which anti-aliases edges so sub-pixel moves still shift the image (a centroid moves smoothly).
All ops are elementwise, so an item's pixels do not depend on which batch it is rendered in.
"""

from __future__ import annotations

import math

import torch

SHAPES = ("square", "ellipse", "heart")
_SQUARE_HALF_SIDE = 0.75  # corner radius 1.06
_ELLIPSE_AXES = (1.0, 0.5)  # semi-axes along local x and y
_HEART_ZOOM = 1.6  # the reference heart is ~1.1 tall; this makes it ~1.8 wide and tall
_HEART_CENTRE = 0.55  # vertical middle of the reference heart (tip at 0, lobes top at 1.10)
_CHUNK_PIXELS = 1 << 17


def _length(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x * x + y * y)


def sdf_square(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Exact signed distance to an axis-aligned square of half side 0.75."""
    qx = x.abs() - _SQUARE_HALF_SIDE
    qy = y.abs() - _SQUARE_HALF_SIDE
    outside = _length(qx.clamp(min=0), qy.clamp(min=0))
    inside = torch.maximum(qx, qy).clamp(max=0)
    return outside + inside


def sdf_ellipse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Signed distance to an ellipse with semi-axes (1, 0.5); first-order accurate near its edge."""
    a, b = _ELLIPSE_AXES
    k0 = _length(x / a, y / b)
    k1 = _length(x / (a * a), y / (b * b))
    # k0 (k0 - 1) / k1 is 0/0 at the centre; the centre is deep inside (distance -b)
    safe = k1 > 1e-12
    return torch.where(safe, k0 * (k0 - 1) / torch.where(safe, k1, 1.0), torch.full_like(k0, -b))


def sdf_heart(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Exact signed distance to a heart (two disc lobes on a rotated square), lobes up, tip down."""
    # image y points down; the reference heart has its tip at the origin and lobes at +y
    px = x.abs() / _HEART_ZOOM
    py = -y / _HEART_ZOOM + _HEART_CENTRE
    lobe = _length(px - 0.25, py - 0.75) - math.sqrt(2.0) / 4.0
    t = 0.5 * (px + py).clamp(min=0)
    tip = _length(px, py - 1.0)
    diag = _length(px - t, py - t)
    body = torch.minimum(tip, diag) * torch.sign(px - py)
    return torch.where(px + py > 1.0, lobe, body) * _HEART_ZOOM


_SDFS = (sdf_square, sdf_ellipse, sdf_heart)


def render_shapes(
    shape: torch.Tensor,
    radius: torch.Tensor,
    cos_t: torch.Tensor,
    sin_t: torch.Tensor,
    cx: torch.Tensor,
    cy: torch.Tensor,
    image_size: int,
) -> torch.Tensor:
    """Render B shapes (SHAPES index, radius, centre in image units) -> (B, 1, S, S) coverage."""
    size = int(image_size)
    out = torch.empty(len(shape), 1, size, size)  # (B, 1, S, S)
    # ~15 temporaries per pixel: chunks that stay in cache are several times faster than one pass
    step = max(1, _CHUNK_PIXELS // (size * size))
    for i in range(0, len(shape), step):
        j = slice(i, i + step)
        out[j, 0] = _coverage(shape[j], radius[j], cos_t[j], sin_t[j], cx[j], cy[j], size)
    return out


def _coverage(
    shape: torch.Tensor,
    radius: torch.Tensor,
    cos_t: torch.Tensor,
    sin_t: torch.Tensor,
    cx: torch.Tensor,
    cy: torch.Tensor,
    size: int,
) -> torch.Tensor:
    u = (torch.arange(size, dtype=torch.float32) + 0.5) / size  # (S,) pixel centres
    dx = u[None, None, :] - cx[:, None, None]  # (b, 1, S) along columns
    dy = u[None, :, None] - cy[:, None, None]  # (b, S, 1) along rows
    c = cos_t[:, None, None]
    s = sin_t[:, None, None]
    r = radius[:, None, None]
    x = (c * dx + s * dy) / r  # (b, S, S) local frame, shape radius ~1
    y = (c * dy - s * dx) / r
    dist = torch.empty_like(x)  # (b, S, S) signed distance in local units
    for k, sdf in enumerate(_SDFS):
        rows = shape == k
        if bool(rows.any()):
            dist[rows] = sdf(x[rows], y[rows])
    dist_px = dist * (r * size)  # local units -> pixels
    return (0.5 - dist_px).clamp_(0.0, 1.0)  # (b, S, S) coverage
