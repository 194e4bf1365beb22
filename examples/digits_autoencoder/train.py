"""Train ConvAE on sklearn's digits with a plain loop; save safetensors + JSON config, and
write the digits as a folder of PNG files (one subfolder per digit) to encode later.

    python train.py --epochs 30 --out out
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from conv_ae import build
from PIL import Image
from safetensors.torch import save_file
from sklearn.datasets import load_digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--n-images", type=int, default=1797, help="digits written as PNG")
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args()
    torch.manual_seed(0)

    digits = load_digits()
    pixels = (digits.images * 255 / 16).round().astype(np.uint8)  # (N, 8, 8), as PNG stores them
    x = torch.from_numpy(pixels).float().div(255).unsqueeze(1)  # (N, 1, 8, 8)

    config = {"latent_dim": 8, "width": 16}
    model = build(**config)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(args.epochs):
        perm = torch.randperm(len(x))
        total = 0.0
        for start in range(0, len(x), 64):
            batch = x[perm[start : start + 64]]
            loss = torch.nn.functional.mse_loss(model.decode(model.encode(batch)), batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        if epoch == args.epochs - 1 or epoch % 10 == 0:
            print(f"epoch {epoch + 1}: reconstruction mse {total / len(x):.4f}")

    args.out.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(args.out / "conv_ae.safetensors"))
    (args.out / "conv_ae.json").write_text(json.dumps(config))
    for i in range(args.n_images):
        folder = args.out / "digits_png" / str(digits.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i]).save(folder / f"{i:04d}.png")
    print(f"wrote {args.out}/conv_ae.safetensors, conv_ae.json and {args.n_images} PNGs")


if __name__ == "__main__":
    main()
