"""Held-out accuracy of the dSprites judge (the CNN that scores edits from pixels), per head.

    python bench/quality_judge.py                      # 32 and 64 px, the demo's settings
    python bench/quality_judge.py --sizes 32 --epochs 10
    python bench/quality_judge.py --quick              # a CPU smoke run

Trains a judge with the pure layers (``fit_judge``, no store, no Prefect) on the items of a
seeded dSprites subset in the latent tables' "train" split, and scores it on the subset's
"test" items: accuracy per head, the share within one grid step for the grid factors
(pos_x/pos_y: 32 steps, scale: 6), and shape accuracy at each of the 6 scales, where the
smallest shapes (about 4-5 px wide at 32 px) are the hardest. Targets (issue 19): shape
>= 0.9 at 32 px and >= 0.95 at 64 px, scale >= 0.9, position within one step >= 0.9.
Not part of bench/run.py: it measures quality, not speed.
"""

from __future__ import annotations

import argparse
import time

import torch

from latentops.data import get_dataset
from latentops.evaluation import JudgeTraining, fit_judge
from latentops.storage.latents import assign_split


def main() -> None:
    """Train one judge per image size and print its held-out figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    p.add_argument("--n-items", type=int, default=20_000, help="subset: ~80%% train, 20%% test")
    p.add_argument("--epochs", type=int, default=JudgeTraining.epochs)
    p.add_argument("--width", type=int, default=JudgeTraining.width)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.sizes, a.n_items, a.epochs = [32], 2_000, 1
    for size in a.sizes:
        # seed 1: the demo judge's subset, apart from the autoencoder's (seed 0)
        data = get_dataset("dsprites", image_size=size, n_items=a.n_items, seed=1)
        ids = data.item_ids()
        split = assign_split(ids)
        training = JudgeTraining(epochs=a.epochs, width=a.width, seed=a.seed)
        start = time.perf_counter()
        _, result, held = fit_judge(
            data, ids[split == "train"], ids[split == "test"], training, a.device
        )
        seconds = time.perf_counter() - start
        acc = held["accuracy"]
        print(
            f"judge {size} px: {result['steps']} steps, batch {training.batch_size}, width "
            f"{training.width}, {seconds:.0f} s on {a.device} ({torch.get_num_threads()} threads), "
            f"{int((split == 'test').sum())} held-out items"
        )
        print("  accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(acc.items())))
        by_scale = held["accuracy_by"].get("scale", {}).get("shape", [])
        print("  shape accuracy at scale 0..5: " + " ".join(f"{v:.3f}" for v in by_scale))


if __name__ == "__main__":
    main()
