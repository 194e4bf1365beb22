"""Encode throughput of a model you bring (factory, .pt2) through the flow vs a bare loop.

    python bench/bench_byom.py [--quick] [--device cuda]

Prints, for a user's conv encoder written to a temporary module (not part of latentops):
  byom_encode_<source>_<px>px_<dev>: ours X items/s, baseline Y items/s, ratio R
      (encode flow with the registered model / bare loop of the user's module; >= 0.9 is the goal)
The flow figure includes planning, rendering, the adapter's per-batch shape check, Delta commits
and Prefect bookkeeping; the bare loop renders and encodes the same batches and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

import torch  # noqa: E402

from latentops.data import get_dataset  # noqa: E402
from latentops.models import check_model, pick_device, probe_batch  # noqa: E402
from latentops.storage import Store  # noqa: E402
from latentops.storage import external_models as em  # noqa: E402

USER_MODULE = """
from torch import nn


class ConvEncoder(nn.Module):
    def __init__(self, size=32, d=10):
        super().__init__()
        self.spec = {"d": d, "input_kind": "image", "input_shape": [1, size, size]}
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten(),
            nn.Linear(64 * (size // 8) ** 2, 128), nn.ReLU(), nn.Linear(128, d),
        )

    def encode(self, x):
        return self.body(x)


def build(size=32, d=10):
    return ConvEncoder(size, d)
"""


def _register(store: Store, source: str, size: int, tmp: Path) -> torch.nn.Module:
    """Register the user's encoder as ``bench-<source>``; return the eager module."""
    build = em.from_factory("bench_user_conv:build", {"size": size}, None)
    net = build.model.net.eval()
    if source == "pt2":
        x = torch.rand(4, 1, size, size)
        dims = {"x": {0: torch.export.Dim("batch")}}
        program = torch.export.export(_Forward(net), (x,), dynamic_shapes=dims)
        torch.export.save(program, tmp / "enc.pt2")
        build = em.from_exported(tmp / "enc.pt2", None, "none")
    report = check_model(build.model, probe_batch(build.model))
    store.models.register_external(
        f"bench-{source}",
        build,
        report,
        dataset="dsprites",
        dataset_fingerprint="-",
        dataset_options={"image_size": size},
    )
    return net


class _Forward(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.encode(x)


def bare_loop(net: torch.nn.Module, size: int, n: int, dev: torch.device) -> float:
    """Items/s of the user's module over the same rendered batches, nothing written."""
    net = net.to(dev)
    start = time.perf_counter()
    with torch.inference_mode():
        for b in get_dataset("dsprites", image_size=size, n_items=n).batches(512):
            net.encode(b.x.to(dev)).cpu()
    return n / (time.perf_counter() - start)


def flow_run(root: str, model: str, size: int, n: int, device: str | None, table: str) -> float:
    """Items/s of the real encode flow into a new table."""
    from latentops.flows.encode import encode_flow

    start = time.perf_counter()
    out = encode_flow(
        dataset="dsprites",
        model=model,
        table=table,
        store=root,
        dataset_options={"image_size": size, "n_items": n},
        device=device,
    )
    assert out["written"] == n, out
    return n / (time.perf_counter() - start)


def main() -> None:
    """Run the figures and print them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    size, n = 32, 8192 if args.quick else 32768
    dev = pick_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "bench_user_conv.py").write_text(USER_MODULE)
        sys.path.insert(0, str(tmp))
        store = Store.open(tmp / "s")
        for source in ("factory", "pt2"):
            net = _register(store, source, size, tmp)
            root, model = str(store.root), f"bench-{source}@1"
            flow_run(root, model, size, 64, args.device, f"warm_{source}")  # API + caches
            ours, base = [], []
            for i in range(3):  # interleaved, so drift in machine speed hits both alike
                ours.append(flow_run(root, model, size, n, args.device, f"t_{source}_{i}"))
                base.append(bare_loop(net, size, n, dev))
            o, b = statistics.median(ours), statistics.median(base)
            print(
                f"byom_encode_{source}_{size}px_{dev.type}: ours {o:.0f} items/s, "
                f"baseline {b:.0f} items/s, ratio {o / b:.2f}"
            )


if __name__ == "__main__":
    main()
