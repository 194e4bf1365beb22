"""Image-folder loading through the dataset loader vs a bare Pillow loop over the same files.

    python bench/bench_image_folder.py [--quick]

Prints, for a folder of PNG (gray) or JPEG (RGB) files written to a temporary directory:
  image_folder_<kind>_<px>px_open+load: ours X items/s, baseline Y items/s, ratio R
      (ImageFolder opened cold: every file read, hashed and verified, then streamed as float
      batches on worker threads / a loop that opens, decodes and batches each file once)
  image_folder_<kind>_<px>px_load: ... (the same, the folder already opened: what encode
      chunks after the first pay, as a process remembers each file's digest by size and mtime)
Both sides produce the same (B, C, H, W) float32 batches in [0, 1]; the files are read once
before timing so both run from the page cache.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from latentops.data import ImageFolder
from latentops.data import images as image_module

BATCH = 256


def write_folder(root: Path, n: int, size: int, kind: str) -> None:
    """``n`` smooth random images in 10 class folders, as PNG (gray) or JPEG (RGB)."""
    rng = np.random.default_rng(0)
    channels = 1 if kind == "png" else 3
    for i in range(n):
        base = rng.random((size // 4, size // 4, channels)) * 255
        px = np.kron(base, np.ones((4, 4, 1))).astype(np.uint8)  # (size, size, C)
        folder = root / str(i % 10)
        folder.mkdir(parents=True, exist_ok=True)
        img = Image.fromarray(px[..., 0] if channels == 1 else px)
        img.save(folder / f"{i:06d}.{'png' if kind == 'png' else 'jpg'}")


def bare_loop(root: Path, mode: str) -> float:
    """Items/s of a plain loop: list, open, decode, stack into float batches."""
    start = time.perf_counter()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    n = 0
    for s in range(0, len(files), BATCH):
        arrays = []
        for path in files[s : s + BATCH]:
            with Image.open(path) as img:
                px = np.asarray(img.convert(mode))
            arrays.append(px[None] if px.ndim == 2 else px.transpose(2, 0, 1))
        x = torch.from_numpy(np.stack(arrays).astype(np.float32) / np.float32(255.0))
        n += len(x)
    return n / (time.perf_counter() - start)


def ours(root: Path, cold: bool) -> float:
    """Items/s of ImageFolder: open (cold: nothing remembered) and stream every batch."""
    if cold:
        image_module._seen.clear()
    start = time.perf_counter()
    data = ImageFolder(root)
    n = sum(len(b.x) for b in data.batches(BATCH))
    return n / (time.perf_counter() - start)


def main() -> None:
    """Run the figures and print them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 2000 if args.quick else 10000
    for kind, size, mode in (("png", 32, "L"), ("jpeg", 64, "RGB")):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "images"
            write_folder(root, n, size, kind)
            bare_loop(root, mode)  # page cache warm for both
            for cold in (True, False):
                ours(root, cold=False)  # warm the process's digest memory for the "load" line
                mine, base = [], []
                for _ in range(3):  # interleaved, so drift in machine speed hits both alike
                    mine.append(ours(root, cold))
                    base.append(bare_loop(root, mode))
                o, b = statistics.median(mine), statistics.median(base)
                what = "open+load" if cold else "load"
                print(
                    f"image_folder_{kind}_{size}px_{what}: ours {o:.0f} items/s, "
                    f"baseline {b:.0f} items/s, ratio {o / b:.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
