"""Edit + decode + score throughput of the evaluate scorecard vs a bare decode loop, same run.

Usage: python bench/bench_edit.py [--quick] [--device auto|cpu|cuda] [--items N]

"ours" is the streaming scorecard the evaluate task runs (``evaluation.edit_scorecard.Scorecard``):
edit every item at every strength, decode in batches, run the judge once per decoded image
(and on the real images), accumulate responses, off-target changes, Fréchet moments, pixel
changes, locality, log p(z), path length (128 items) and the re-encode cycle (128 items),
then ``finish`` (dose-response, Fréchet distances, calibration). The baseline decodes the
same S x N edited latents with ``model.decode`` in the same batches and does nothing else:
the loop a user writes to look at edits. Models have random weights (speed does not depend
on training) and real images are rendered up front, so only edit/decode/score work is timed.

Figures (edits/s = S x N edited latents per second; ratio = ours / baseline):
- ``score_vs_bare_decode``: the scorecard vs the bare ``model.decode`` loop (target >= 0.8);
- ``score_vs_same_layout_decode``: the same, but the baseline decodes in the channels-last
  layout the scorecard uses, so the ratio is the pure cost of scoring.
Runs alternate ours/baselines; each figure is the median over the repeats.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from latentops.data import DSprites  # noqa: E402
from latentops.evaluation import (  # noqa: E402
    AttributePredictor,
    Judged,
    PredictorConfig,
    Scorecard,
)
from latentops.latent import direction_traversal  # noqa: E402
from latentops.models import build_model, decode_all, fast_layout, pick_device  # noqa: E402

GRID = np.array([-3.0, -1.5, 0.0, 1.5, 3.0])  # the default strength grid
BATCH = 256  # items per scorecard batch (the evaluate task's default)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _ours(net, judge, z, xs, v, device) -> float:
    card = Scorecard(
        Judged(judge, "pos_x", np.arange(32.0)),
        partial(decode_all, net, device),
        net.encode,
        GRID,
        v,
        ppl_items=128,
        ppl_eps=1e-2,
        seed=0,
    )
    t = time.perf_counter()
    for i, x in enumerate(xs):
        card.add(z[i * BATCH : (i + 1) * BATCH], x)
    card.finish(np.random.default_rng(0).normal(size=len(z)), 1.0)
    _sync(device)
    return time.perf_counter() - t


def _bare(net, z, v, device) -> float:
    t = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(z), BATCH):  # the same latents in the same batches
            ze = direction_traversal(torch.from_numpy(z[start : start + BATCH]), v, GRID)
            net.decode(ze.reshape(-1, z.shape[1]).to(device)).cpu()
    _sync(device)
    return time.perf_counter() - t


def main() -> None:
    """Print the throughput figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer items and repeats (< 30 s)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--items", type=int, default=None)
    args = parser.parse_args()
    device = pick_device(args.device)
    n = args.items or (512 if args.quick else 2048)
    repeats = 3 if args.quick else 5
    torch.manual_seed(0)
    net = build_model("vae", latent_dim=8, beta=2.0, image_size=32).to(device).eval()
    fast = fast_layout(copy.deepcopy(net))
    sizes = {"shape": 3, "scale": 6, "orientation": 40, "pos_x": 32, "pos_y": 32}
    config = PredictorConfig(
        in_channels=1, image_size=32, factor_sizes=sizes, width=16, feature_dim=64
    )
    judge = fast_layout(AttributePredictor(config).to(device).eval())
    data = DSprites(image_size=32, n_items=n, seed=1)
    xs = [b.x for b in data.batches(BATCH)]
    z = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)  # (N, d)
    v = np.random.default_rng(1).normal(size=8).astype(np.float32)
    vt = torch.from_numpy(v / np.linalg.norm(v))
    _ours(fast, judge, z[: 2 * BATCH], xs[:2], v, device)  # warm-up: lazy imports, allocator
    _bare(net, z[:BATCH], vt, device)
    ours, bare, same = [], [], []
    for _ in range(repeats):
        ours.append(_ours(fast, judge, z, xs, v, device))
        bare.append(_bare(net, z, vt, device))
        same.append(_bare(fast, z, vt, device))
    edits = len(GRID) * n
    o, b, s = (edits / statistics.median(t) for t in (ours, bare, same))
    print(
        f"score_vs_bare_decode ({device.type}, {n} items x {len(GRID)} strengths, "
        "ratio=ours/baseline): "
        f"ours {o:.0f} edits/s, baseline {b:.0f} edits/s, ratio {o / b:.2f}"
    )
    print(
        f"score_vs_same_layout_decode ({device.type}, ratio=ours/baseline): "
        f"ours {o:.0f} edits/s, baseline {s:.0f} edits/s, ratio {o / s:.2f}"
    )


if __name__ == "__main__":
    main()
