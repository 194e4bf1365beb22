"""Write sklearn digits as a user would keep them: PNG files in class folders, or PNG bytes in
a Parquet column."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


def digit_pixels(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` sklearn digits as (n, 8, 8) uint8 and their labels (n,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images[:n] * 255 / 16).astype(np.uint8), bunch.target[:n].astype(np.int64)


def png_bytes(px: np.ndarray) -> bytes:
    """One (H, W) uint8 image as PNG bytes."""
    out = io.BytesIO()
    Image.fromarray(px).save(out, format="PNG")
    return out.getvalue()


def write_folder(root: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``root/<digit>/<i>.png`` for the first ``n`` digits; returns their pixels and labels."""
    px, y = digit_pixels(n)
    for i, (img, label) in enumerate(zip(px, y, strict=True)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / str(label) / f"{i:04d}.png")
    return px, y


def write_parquet(path: Path, n: int, row_group_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A Parquet file with item_id, png (bytes) and digit columns for the first ``n`` digits."""
    px, y = digit_pixels(n)
    table = pa.table(
        {
            "item_id": pa.array(np.arange(1000, 1000 + n), pa.int64()),
            "png": pa.array([png_bytes(p) for p in px], pa.binary()),
            "digit": pa.array(y),
        }
    )
    pq.write_table(table, path, row_group_size=row_group_size)
    return px, y
