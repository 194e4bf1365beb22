"""Held-out quality of fitted directions on a properly trained β-VAE (GPU recommended).

    python bench/quality_directions.py --device cuda            # the figures in the notes
    python bench/quality_directions.py --quick                  # a CPU smoke run

Trains a β-VAE on procedural dSprites with the pure layers (no store, no Prefect), encodes a
held-out subset of the grid, fits one direction per factor (ridge for the ordinal factors,
logistic one-vs-rest for shape) and prints each direction's held-out R² / AUC next to the
chance level, plus MIG / DCI of the latents. Not part of bench/run.py: it measures quality,
not speed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from latentops.data import get_dataset, prefetch
from latentops.directions import fit_direction
from latentops.evaluation import dci, mig
from latentops.models import TrainConfig, build_model, encode_batches, train_autoencoder


def main() -> None:
    """Train, encode, fit, print."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default=None)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--n-items", type=int, default=100_000)
    p.add_argument("--eval-items", type=int, default=20_000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--beta", type=float, default=4.0)
    p.add_argument("--latent-dim", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--render-seconds", type=float, default=60.0)
    a = p.parse_args()
    if a.quick:
        a.image_size, a.n_items, a.eval_items, a.epochs = 32, 2000, 1000, 1

    train = get_dataset("dsprites", image_size=a.image_size, n_items=a.n_items, seed=0)
    held = get_dataset("dsprites", image_size=a.image_size, n_items=a.eval_items, seed=1)
    model = build_model(
        "vae", latent_dim=a.latent_dim, beta=a.beta, in_channels=1, image_size=a.image_size
    )
    # Render the training subset once (bounded by --render-seconds) and train from memory:
    # the GPU is far faster than rendering on the CPU, so re-rendering every epoch would idle it.
    start, chunks = time.perf_counter(), []
    for batch in prefetch(train.batches(4096), depth=4):
        chunks.append(batch.x.to(torch.float16))  # halves host memory; exact enough for coverage
        if time.perf_counter() - start > a.render_seconds:
            break
    images = torch.cat(chunks)  # (N, 1, S, S)
    print(f"rendered {len(images)} training images in {time.perf_counter() - start:.0f} s")
    ids = np.arange(len(images))

    def epoch_batches(epoch: int):
        order = torch.from_numpy(np.random.default_rng(epoch).permutation(ids))
        for i in range(0, len(order), a.batch_size):
            yield images[order[i : i + a.batch_size]].float()

    cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=1e-3, amp=False)
    start = time.perf_counter()
    result = train_autoencoder(model, epoch_batches, cfg, device=a.device)
    seconds = time.perf_counter() - start
    print(
        f"trained on {result.device}: {a.epochs} epochs x {len(ids)} images in {seconds:.0f} s "
        f"({a.epochs * len(ids) / seconds:.0f} images/s), final {result.final}"
    )

    zs, item_ids = [], []
    for batch_ids, z, _ in encode_batches(model, prefetch(held.batches(1024)), a.device, amp=False):
        zs.append(z)
        item_ids.append(batch_ids)
    z = np.concatenate(zs)
    factors = held.factors(np.concatenate(item_ids))
    print(
        f"encoded {len(z)} held-out items; per-dim variance of mu: {np.round(z.var(0), 3).tolist()}"
    )
    for name in ("scale", "orientation", "pos_x", "pos_y"):
        d = fit_direction(z, factors[name].astype(np.float64), "ridge", label=name)
        print(f"direction {name:<12} ridge     held-out R2  {d.metrics['r2']:.3f}  (chance 0)")
    for k in range(3):
        d = fit_direction(z, factors["shape"] == k, "logistic", label=f"shape=={k}")
        print(
            f"direction shape=={k}     logistic  AUC {d.metrics['auc']:.3f}  (chance 0.5), "
            f"accuracy {d.metrics['accuracy']:.3f}"
        )
    f = np.stack([factors[n] for n in held.factor_names], 1)
    print(
        "MIG",
        round(mig(z, f, factor_names=list(held.factor_names))["mig"], 3),
        "DCI",
        {
            k: round(v, 3)
            for k, v in dci(z, f, fast=True).items()
            if k in ("dci.disentanglement", "dci.completeness")
        },
    )


if __name__ == "__main__":
    torch.backends.cudnn.benchmark = True
    main()
