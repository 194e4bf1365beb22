"""Training and encoding throughput of latentops models vs a bare PyTorch loop, same run.

Usage: python bench/bench_models.py [--quick] [--device auto|cpu|cuda] [--image-size 32]

"ours" is ``train_autoencoder`` / ``encode_batches`` (on CUDA: pinned non-blocking copies,
bfloat16 autocast, fused Adam, one host sync per ``log_every`` steps); the baseline is the loop a
user would write around the same model, batches and batch size (fp32, ``.to(device)``, Adam,
``.cpu().numpy()`` per encoded batch). Images are rendered once up front, so only the model
loop is timed. Runs alternate ours/baseline and each figure is the median over the repeats.
Prints ``name: ours X images/s, baseline Y images/s, ratio R`` with R = ours / baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from latentops.data import Batch, DSprites  # noqa: E402
from latentops.models import (  # noqa: E402
    TrainConfig,
    build_model,
    encode_batches,
    pick_device,
    train_autoencoder,
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_ours(model, xs, batch_size, device, amp=True) -> float:
    cfg = TrainConfig(epochs=1, batch_size=batch_size, lr=1e-3, amp=amp)
    t = time.perf_counter()
    train_autoencoder(model, lambda epoch: xs, cfg, device=device)
    _sync(device)
    return time.perf_counter() - t


def _train_bare(model, xs, device) -> float:
    model.to(device).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    t = time.perf_counter()
    for x in xs:
        loss = model.loss(x.to(device)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    _sync(device)
    return time.perf_counter() - t


def _encode_ours(model, batches, device) -> float:
    t = time.perf_counter()
    for _ids, z, _logvar in encode_batches(model, batches, device):
        z.sum()  # touch the result like a writer would
    return time.perf_counter() - t


def _encode_bare(model, batches, device) -> float:
    model.to(device).eval()
    t = time.perf_counter()
    with torch.no_grad():
        for b in batches:
            z = model.encode(b.x.to(device)).cpu().numpy()
            z.sum()
    return time.perf_counter() - t


def _median_rate(n_images: int, ours, base, repeats: int) -> tuple[float, float]:
    ours(), base()  # warm-up: allocator, cuDNN autotuning, lazy init
    t_ours, t_base = [], []
    for _ in range(repeats):
        t_ours.append(ours())
        t_base.append(base())
    return n_images / statistics.median(t_ours), n_images / statistics.median(t_base)


def _line(name: str, ours: float, base: float) -> None:
    print(
        f"{name}: ours {ours:,.0f} images/s, baseline {base:,.0f} images/s, "
        f"ratio {ours / base:.2f}",
        flush=True,
    )


def main() -> None:
    """Run the train and encode throughput comparisons and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, < 30 s on 2 CPU cores")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--image-size", type=int, default=32, choices=(32, 64))
    parser.add_argument("--archs", default="vae,vqvae")
    args = parser.parse_args()
    device = pick_device(args.device)
    cuda = device.type == "cuda"
    train_bs, encode_bs = (256, 1024) if cuda else (64, 256)
    if args.quick:
        n_train, n_encode, repeats = (4096, 16384, 3) if cuda else (512, 1024, 3)
    else:
        n_train, n_encode, repeats = (32768, 131072, 5) if cuda else (2048, 4096, 5)
    ds = DSprites(args.image_size, n_items=max(n_train, n_encode), seed=0)
    ids = ds.item_ids()
    xs = [b.x for b in ds.batches(train_bs, ids[:n_train])]
    enc = [Batch(b.item_id, b.x, {}) for b in ds.batches(encode_bs, ids[:n_encode])]
    print(
        f"# device={device} ({torch.cuda.get_device_name(device) if cuda else 'cpu'}), "
        f"torch threads={torch.get_num_threads()}, {args.image_size}px, "
        f"train batch {train_bs} x {len(xs)}, encode batch {encode_bs} x {len(enc)}",
        flush=True,
    )
    for arch in args.archs.split(","):
        model = build_model(arch, image_size=args.image_size)
        tag = f"{arch}_{args.image_size}px"
        ours, base = _median_rate(
            n_train,
            partial(_train_ours, model, xs, train_bs, device),
            partial(_train_bare, model, xs, device),
            repeats,
        )
        _line(f"train_{tag}_bs{train_bs} (ratio ours/baseline)", ours, base)
        if cuda:  # the loop's own cost, apart from what bfloat16 autocast gains or loses
            ours, base = _median_rate(
                n_train,
                partial(_train_ours, model, xs, train_bs, device, amp=False),
                partial(_train_bare, model, xs, device),
                repeats,
            )
            _line(f"train_{tag}_bs{train_bs}_fp32 (ratio ours without AMP/baseline)", ours, base)
        ours, base = _median_rate(
            n_encode,
            partial(_encode_ours, model, enc, device),
            partial(_encode_bare, model, enc, device),
            repeats,
        )
        _line(f"encode_{tag}_bs{encode_bs} (ratio ours/baseline)", ours, base)


if __name__ == "__main__":
    main()
