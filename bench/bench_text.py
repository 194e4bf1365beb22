"""Text encode throughput: the encode flow (minilm over reviews) vs a bare ``model.encode`` loop.

    python bench/bench_text.py [--quick] [--device cuda]

Prints:
  text_encode_flow_<n>_<device>: ours X sentences/s, baseline Y sentences/s, ratio R
      (flow / bare loop over the same batches; >= 0.9 is the goal)
The flow figure includes planning, the truncation check, Delta commits and Prefect task
bookkeeping; the model is registered in the store beforehand (not timed), as after a first use.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from latentops.data import get_dataset  # noqa: E402
from latentops.models import pick_device  # noqa: E402
from latentops.storage import Store  # noqa: E402

BATCH = 128


def bare_loop(store: Store, n_items: int, device: str | None) -> float:
    """Sentences/s of model.encode over the same batches of texts, nothing written."""
    dev = pick_device(device)
    model, _ = store.models.load("minilm@1", dev)
    data = get_dataset("reviews", n_items=n_items)
    start = time.perf_counter()
    with torch.inference_mode():
        for b in data.batches(BATCH):
            model.encode(b.x).cpu()
    return n_items / (time.perf_counter() - start)


def flow_run(store: Store, table: str, n_items: int, device: str | None) -> float:
    """Sentences/s of the real encode flow into a new table of the store."""
    from latentops.flows.encode import encode_flow

    start = time.perf_counter()
    out = encode_flow(
        dataset="reviews",
        model="minilm@1",
        table=table,
        store=str(store.root),
        dataset_options={"n_items": n_items},
        batch_size=BATCH,
        device=device,
    )
    elapsed = time.perf_counter() - start
    assert out["written"] == n_items, out
    return n_items / elapsed


def main() -> None:
    """Run the figure and print it."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    n_items = 1000 if args.quick else 4000
    repeats = 3  # interleaved; the median of each side is reported
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(os.path.join(tmp, "s"))
        store.models.register_pretrained("minilm")
        flow_run(store, "warm", 64, args.device)  # warms the ephemeral Prefect API and caches
        ours, base = [], []
        for i in range(repeats):  # interleaved, so drift in machine speed hits both alike
            ours.append(flow_run(store, f"run{i}", n_items, args.device))
            base.append(bare_loop(store, n_items, args.device))
    o, b = statistics.median(ours), statistics.median(base)
    dev = pick_device(args.device).type
    print(
        f"text_encode_flow_{n_items}_{dev}: ours {o:.0f} sentences/s, "
        f"baseline {b:.0f} sentences/s, ratio {o / b:.2f}"
    )


if __name__ == "__main__":
    main()
