"""What the report decodes: reconstructions, traversals, direction edits, interpolations.

Pure tensor code over a model that is already loaded (the report task loads it from the
registry): latents in, images (..., C, H, W) in [0, 1] out. Also PNG tiles for the page and
the 2-D projection of the latent map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from latentops._png import png_bytes
from latentops._validate import check_latents
from latentops.errors import InvalidInputError
from latentops.latent import coordinate_traversal, direction_traversal, interpolate
from latentops.models import Autoencoder, decode_batches


def decode(model: Autoencoder, z: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Decode latents (N, d) in batches -> float32 images (N, C, H, W) clipped to [0, 1]."""
    if not model.capabilities.decodes:
        raise InvalidInputError(
            f"model {model.arch!r} has no decoder (imported embeddings); images need an autoencoder"
        )
    zt = torch.tensor(np.asarray(z, dtype=np.float32))  # (N, d)
    check_latents(zt, "z", d=model.latent_dim, min_rows=1)
    device = next(model.parameters()).device
    batches = decode_batches(model, zt, device, batch_size)  # (B, C, H, W) each
    return np.concatenate([x.clamp(0.0, 1.0).cpu().numpy() for x in batches])


def traversal_images(
    model: Autoencoder, z: np.ndarray, dim: int, values: Sequence[float]
) -> np.ndarray:
    """Set latent ``dim`` of each z (N, d) to each value (V,) -> images (N, V, C, H, W)."""
    zt = torch.tensor(np.asarray(z, dtype=np.float32))  # (N, d)
    grid = coordinate_traversal(zt, dim, torch.tensor(list(values), dtype=zt.dtype))  # (V, N, d)
    return _items_first(decode(model, grid.reshape(-1, zt.shape[1])), len(values), zt.shape[0])


def direction_images(
    model: Autoencoder, z: np.ndarray, v: np.ndarray, strengths: Sequence[float]
) -> np.ndarray:
    """z (N, d) + s * v/|v| for each strength (S,) -> images (N, S, C, H, W)."""
    zt = torch.tensor(np.asarray(z, dtype=np.float32))  # (N, d)
    vt = torch.tensor(np.asarray(v, dtype=np.float32))  # (d,)
    walk = direction_traversal(zt, vt, torch.tensor(list(strengths), dtype=zt.dtype))  # (S, N, d)
    return _items_first(decode(model, walk.reshape(-1, zt.shape[1])), len(strengths), zt.shape[0])


def interpolation_images(
    model: Autoencoder, z0: np.ndarray, z1: np.ndarray, steps: int, method: str
) -> np.ndarray:
    """``steps`` points from each z0 (P, d) to z1 (P, d), lerp or slerp -> (P, T, C, H, W)."""
    a = torch.tensor(np.asarray(z0, dtype=np.float32))  # (P, d)
    b = torch.tensor(np.asarray(z1, dtype=np.float32))  # (P, d)
    path = interpolate(a, b, steps, method)  # (T, P, d)
    return _items_first(decode(model, path.reshape(-1, a.shape[1])), steps, a.shape[0])


def _items_first(x: np.ndarray, k: int, n: int) -> np.ndarray:
    """Decoded (k*n, C, H, W) laid out step-major -> (n, k, C, H, W) item-major."""
    return x.reshape(k, n, *x.shape[1:]).swapaxes(0, 1)


def tile_png(image: np.ndarray) -> bytes:
    """One image (C, H, W) in [0, 1] (C = 1 grey or 3 RGB) -> 8-bit PNG bytes, compressed hard."""
    return png_bytes(image, level=9)


def project_2d(z: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates (N, 2) of latents (N, d): UMAP when installed and asked/auto, else PCA."""
    x = np.asarray(z, dtype=np.float64)  # (N, d)
    if method not in ("auto", "pca", "umap"):
        raise InvalidInputError(f"projection {method!r} is unknown; use auto, pca or umap")
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] < 2:
        raise InvalidInputError(f"a 2-D map needs latents (N >= 3, d >= 2), got shape {x.shape}")
    if method in ("auto", "umap"):
        umap: Any
        try:
            import umap  # optional: umap-learn
        except ImportError:
            if method == "umap":
                raise InvalidInputError(
                    "projection 'umap' needs umap-learn: pip install umap-learn"
                ) from None
        else:
            xy = umap.UMAP(n_components=2, random_state=seed).fit_transform(x)  # (N, 2)
            return np.asarray(xy, dtype=np.float64), "UMAP"
    centred = x - x.mean(axis=0)  # (N, d)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # vt (d, d), rows = components
    xy = centred @ vt[:2].T  # (N, 2)
    # fix each component's sign (largest loading positive) so reruns draw the same picture
    flip = np.sign(vt[np.arange(2), np.abs(vt[:2]).argmax(axis=1)])  # (2,)
    return xy * np.where(flip == 0, 1.0, flip), "PCA"
