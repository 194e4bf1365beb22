"""Encode flow throughput vs a bare torch loop over the same batches, and peak RSS.

    python bench/bench_encode.py [--quick] [--device cuda] [--batch-size N|auto]

Prints:
  encode_flow_<px>px: ours X items/s, baseline Y items/s, ratio R
      (flow / bare loop; >= 0.9 is the goal)
  encode_peak_rss_<n>_items: ours X MiB, baseline Y MiB, ratio R
      (encode subprocess vs bare-loop subprocess)
and with --batch-size auto (both sides above then use the size auto picks, named _auto<B>):
  encode_flow_auto<B>_vs_512_<px>px: ours X items/s, baseline Y items/s, ratio R
      (flow with auto / flow with 512: the speedup auto buys)
The flow figure includes everything a user pays after start-up: planning, rendering, encoding,
Delta commits (one exactly-once merge per chunk) and Prefect task bookkeeping. The bare loop
renders and encodes the same batches and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

import torch  # noqa: E402

from latentops.data import get_dataset  # noqa: E402
from latentops.models import build_model, parse_batch_size, pick_device  # noqa: E402
from latentops.storage import Store  # noqa: E402

BATCH = 512
CHUNK = 16384


def _store_with_model(root: str, image_size: int) -> Store:
    store = Store.open(root)
    model = build_model("vae", latent_dim=10, beta=4.0, in_channels=1, image_size=image_size)
    store.models.register(
        "bench",
        model,
        dataset="dsprites",
        dataset_fingerprint="-",
        train={"dataset_options": {"image_size": image_size}},
        metrics={},
    )
    return store


def _model(image_size: int, dev: torch.device) -> torch.nn.Module:
    return (
        build_model("vae", latent_dim=10, beta=4.0, in_channels=1, image_size=image_size)
        .to(dev)
        .eval()
    )


def bare_loop(image_size: int, n_items: int, device: str | None, batch: int = BATCH) -> float:
    """Items/s of model.encode over the same rendered batches, nothing written."""
    dev = pick_device(device)
    model = _model(image_size, dev)
    data = get_dataset("dsprites", image_size=image_size, n_items=n_items)
    start = time.perf_counter()
    with torch.inference_mode():
        for b in data.batches(batch):
            model.encode(b.x.to(dev)).cpu()
    return n_items / (time.perf_counter() - start)


def flow_run(
    image_size: int, n_items: int, device: str | None, batch_size: int | str = BATCH
) -> tuple[float, int]:
    """Items/s of the real encode flow into a fresh store (API already warm), batch size used."""
    from latentops.flows.encode import encode_flow

    with tempfile.TemporaryDirectory() as tmp:
        store = _store_with_model(os.path.join(tmp, "s"), image_size)
        opts = {"image_size": image_size, "n_items": n_items}
        start = time.perf_counter()
        out = encode_flow(
            dataset="dsprites",
            model="bench@1",
            store=str(store.root),
            dataset_options=opts,
            chunk_size=CHUNK,
            batch_size=batch_size,
            device=device,
        )
        elapsed = time.perf_counter() - start
        assert out["written"] == n_items, out
    return n_items / elapsed, out["batch_size"]


def peak_rss_mib(code: str) -> float:
    """Peak RSS (MiB) of a fresh Python process running ``code`` (it reports its own peak)."""
    report = "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    out = subprocess.run(
        [sys.executable, "-c", code + report], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    """Run the figures and print them."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--batch-size", type=parse_batch_size, default=BATCH, help="N or auto")
    args = parser.parse_args()
    image_size = args.image_size or (32 if args.quick else 64)
    n_items = 8192 if args.quick else 32768
    repeats = 3  # interleaved; the median of each side is reported

    from latentops.flows.encode import encode_flow

    with tempfile.TemporaryDirectory() as tmp:  # warm the ephemeral Prefect API (not timed)
        store = _store_with_model(os.path.join(tmp, "s"), 32)
        encode_flow(
            dataset="dsprites",
            model="bench@1",
            store=str(store.root),
            dataset_options={"image_size": 32, "n_items": 64},
        )

    auto = args.batch_size == "auto"
    ours, base, fixed, used = [], [], [], []
    for _ in range(repeats):  # interleaved, so drift in machine speed hits both alike
        rate, batch = flow_run(image_size, n_items, args.device, args.batch_size)
        ours.append(rate)
        used.append(batch)
        base.append(bare_loop(image_size, n_items, args.device, batch))  # the size the flow used
        if auto:
            fixed.append(flow_run(image_size, n_items, args.device, BATCH)[0])
    sizes = "-".join(str(n) for n in sorted(set(used)))  # one size unless free memory moved
    batch = used[0]
    tag = f"_auto{sizes}" if auto else ("" if batch == BATCH else f"_b{batch}")
    o, b = statistics.median(ours), statistics.median(base)
    dev = pick_device(args.device).type
    print(
        f"encode_flow_{image_size}px_{dev}{tag}: ours {o:.0f} items/s, "
        f"baseline {b:.0f} items/s, ratio {o / b:.2f}"
    )
    if auto:
        f = statistics.median(fixed)
        print(
            f"encode_flow_auto{sizes}_vs_{BATCH}_{image_size}px_{dev}: ours {o:.0f} items/s, "
            f"baseline {f:.0f} items/s, ratio {o / f:.2f}"
        )

    rss_items = 20_000 if args.quick else 200_000
    setup = (
        "import os, tempfile; os.environ['PREFECT_LOGGING_LEVEL']='ERROR';"
        "os.environ['PREFECT_SERVER_ANALYTICS_ENABLED']='false';"
        f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import bench_encode as b\n"
    )
    ours_rss = peak_rss_mib(
        setup + "from latentops.flows.encode import encode_flow\n"
        f"t=tempfile.mkdtemp(); s=b._store_with_model(t+'/s', {image_size});"
        f"encode_flow(dataset='dsprites', model='bench@1', store=str(s.root),"
        f"dataset_options={{'image_size': {image_size}, 'n_items': {rss_items}}},"
        f"chunk_size={CHUNK},"
        f"batch_size={args.batch_size!r}, device={args.device!r})"
    )
    base_rss = peak_rss_mib(
        setup + f"b.bare_loop({image_size}, {rss_items}, {args.device!r}, {batch})"
    )
    print(
        f"encode_peak_rss_{rss_items}_items_{image_size}px{tag}: ours {ours_rss:.0f} MiB, "
        f"baseline {base_rss:.0f} MiB, ratio {ours_rss / base_rss:.2f}"
    )


if __name__ == "__main__":
    main()
