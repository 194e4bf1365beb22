"""prefetch: same items in the same order, errors surface, early exit stops the producer."""

from __future__ import annotations

import threading

import pytest

from latentops.data import get_dataset, prefetch, prefetch_map


def test_prefetch_preserves_order_and_content():
    data = get_dataset("dsprites", image_size=32, n_items=300)
    plain = [b.item_id.tolist() for b in data.batches(64)]
    ahead = [b.item_id.tolist() for b in prefetch(data.batches(64), depth=3)]
    assert ahead == plain


def test_producer_errors_reach_the_consumer():
    def broken():
        yield 1
        raise OSError("disk went away")

    it = prefetch(broken())
    assert next(it) == 1
    with pytest.raises(OSError, match="disk went away"):
        next(it)


def test_breaking_out_early_ends_the_thread():
    before = threading.active_count()
    for i in prefetch(iter(range(10_000)), depth=2):
        if i == 3:
            break
    assert threading.active_count() == before


def test_prefetch_map_keeps_order_runs_items_at_once_and_reraises():
    both = threading.Barrier(2, timeout=10)  # passes only if two items run at the same time

    def work(i):
        if i < 2:
            both.wait()
        if i == 5:
            raise ValueError("item 5")
        return i * i

    got = []
    with pytest.raises(ValueError, match="item 5"):
        for value in prefetch_map(work, range(8), workers=2):
            got.append(value)
    assert got == [0, 1, 4, 9, 16]
