"""Produce the next batches on a background thread while the caller consumes this one."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` in order, producing up to ``depth`` ahead on a daemon thread.

    Rendering/gathering a batch (CPU) then overlaps with encoding the previous one (GPU or
    the other core). Exceptions from the producer are re-raised in the consumer.
    """
    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
            buffer.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            buffer.put(exc)

    thread = threading.Thread(target=produce, name="latentops-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full buffer
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.01)


def prefetch_map(fn: Callable[[T], U], items: Iterable[T], workers: int = 2) -> Iterator[U]:
    """Yield ``fn(item)`` for ``items`` in order, computing up to ``workers`` ahead on threads.

    For work that releases the GIL (image decoding in Pillow, file reads): several batches
    decode at once while the consumer encodes an earlier one. Exceptions re-raise in order.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="latentops-load")
    pending: deque[Future[U]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
