"""Batch size that fits device memory: probe a forward pass, split fixed and per-item bytes.

Peak memory of a forward pass is ``fixed + per_item * B`` to a good approximation: weights
casts and library workspaces do not grow with the batch, activations do. Probing two batch
sizes separates the two, and :func:`batch_for_budget` turns them into the largest batch that
fits a fraction of the free memory.

On CUDA the caching allocator is measured (``max_memory_allocated`` after
``reset_peak_memory_stats``) under the same inference_mode + autocast as encoding, and the
chosen size is run once and halved until its measured peak fits. On the CPU there is no
allocator to ask, so forward hooks add up every layer's output bytes (more than is ever live
at once) and the budget is the host's available RAM, cgroup limit included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from latentops._validate import is_int
from latentops.errors import InvalidInputError
from latentops.models.base import Autoencoder
from latentops.models.device import autocast, pick_device

log = logging.getLogger(__name__)

# Measured on 2 cores (one thread, CPU time): 1024 items encode 0.67x (32 px) and 0.90x
# (64 px) as fast as 512, so the CPU never goes past the encode flow's default of 512.
CPU_MAX_BATCH = 512
# Four batches per default 8192-item chunk, so prefetch still overlaps rendering with encoding.
CUDA_MAX_BATCH = 2048
_CPU_PROBE = (2, 4)  # activation bytes are exactly linear in B, so tiny probes suffice
_CUDA_PROBE = (8, 32)  # big enough that allocator rounding (512 B blocks) is noise
# The input batch lives in host RAM up to four times: two queued by prefetch, one being
# rendered, one being encoded.
_HOST_INPUT_COPIES = 4


@dataclass(frozen=True)
class MemoryEstimate:
    """Forward-pass memory on ``device``: ``fixed_bytes + per_item_bytes * B`` at batch B."""

    fixed_bytes: int
    per_item_bytes: int
    device: str


def batch_for_budget(
    fixed_bytes: int,
    per_item_bytes: int,
    free_bytes: int,
    *,
    fraction: float = 0.8,
    max_batch: int,
    min_batch: int = 1,
) -> int:
    """Largest power of two B (or ``max_batch``) with fixed + B * per_item <= fraction * free."""
    _check_int(fixed_bytes, "fixed_bytes", 0, "a byte count; 0 if nothing is fixed")
    _check_int(per_item_bytes, "per_item_bytes", 1, "measure it with probe_memory")
    _check_int(free_bytes, "free_bytes", 1, "a byte count of free device memory")
    _check_int(min_batch, "min_batch", 1, "the smallest batch worth running, e.g. 1")
    _check_int(max_batch, "max_batch", min_batch, "cap it at or above min_batch")
    _check_fraction(fraction)
    budget = math.floor(fraction * free_bytes)
    fits = (budget - fixed_bytes) // per_item_bytes  # items that fit; < 0 if fixed alone doesn't
    if fits < min_batch:
        raise InvalidInputError(
            f"{_mib(free_bytes)} free x fraction={fraction} leaves room for {max(fits, 0)} "
            f"item(s) ({_mib(per_item_bytes)} each after {_mib(fixed_bytes)} fixed) but "
            f"min_batch={min_batch}; free device memory, raise fraction, or pass an explicit "
            "smaller batch size"
        )
    if fits >= max_batch:
        return max_batch
    return max(min_batch, 1 << (int(fits).bit_length() - 1))  # largest power of two <= fits


def probe_memory(
    model: Autoencoder,
    item_shape: Sequence[int] | None = None,
    device: str | torch.device | None = None,
    *,
    decode: bool = False,
    amp: bool = True,
) -> MemoryEstimate:
    """Fixed and per-item bytes of encode (then decode, if asked) on ``device``, from two probes."""
    dev = pick_device(device)
    shape = _check_shape(model.x_shape if item_shape is None else item_shape)
    cuda = dev.type == "cuda"
    sizes = _CUDA_PROBE if cuda else _CPU_PROBE
    with _eval_on(model, dev):
        if cuda:
            try:
                _cuda_peak(model, shape, sizes[0], dev, decode, amp)  # warm-up: lazy workspaces
                peaks = [_cuda_peak(model, shape, b, dev, decode, amp) for b in sizes]
            except torch.cuda.OutOfMemoryError as exc:
                torch.cuda.empty_cache()
                raise InvalidInputError(
                    f"a probe batch of {max(sizes)} items does not fit on {dev}; free GPU "
                    "memory, or pass an explicit small batch size instead of 'auto'"
                ) from exc
        else:
            peaks = [_host_bytes(model, shape, b, dev, decode) for b in sizes]
    (b1, b2), (p1, p2) = sizes, peaks
    # ceil, so rounding never lets an estimate fall below what was measured
    per_item = max(1, -(-(p2 - p1) // (b2 - b1)))
    return MemoryEstimate(max(0, p1 - per_item * b1), per_item, str(dev))


def fit_batch_size(
    model: Autoencoder,
    item_shape: Sequence[int] | None = None,
    device: str | torch.device | None = None,
    *,
    free_bytes: int | None = None,
    fraction: float = 0.8,
    max_batch: int | None = None,
    min_batch: int = 1,
    decode: bool = False,
    amp: bool = True,
) -> int:
    """Largest batch whose forward pass fits ``fraction`` of free memory on ``device``."""
    _check_fraction(fraction)
    dev = pick_device(device)
    cuda = dev.type == "cuda"
    cap = (CUDA_MAX_BATCH if cuda else CPU_MAX_BATCH) if max_batch is None else max_batch
    _check_int(min_batch, "min_batch", 1, "the smallest batch worth running, e.g. 1")
    _check_int(cap, "max_batch", min_batch, "cap it at or above min_batch, or None for the default")
    shape = _check_shape(model.x_shape if item_shape is None else item_shape)
    with _eval_on(model, dev):  # the weights sit on the device before free memory is read
        if free_bytes is None:
            free_bytes = _cuda_free_bytes(dev) if cuda else available_host_bytes()
        _check_int(free_bytes, "free_bytes", 1, "pass the bytes a batch may use, or None")
        est = probe_memory(model, shape, dev, decode=decode, amp=amp)
        batch = batch_for_budget(
            est.fixed_bytes,
            est.per_item_bytes,
            free_bytes,
            fraction=fraction,
            max_batch=cap,
            min_batch=min_batch,
        )
        if cuda:  # the estimate is a line through two points; check it on the real thing
            budget = math.floor(fraction * free_bytes)
            batch = _largest_that_runs(model, shape, dev, batch, budget, min_batch, decode, amp)
    log.info(
        "batch size %d on %s: %s per item + %s fixed, %s free x %.2f",
        batch,
        dev,
        _mib(est.per_item_bytes),
        _mib(est.fixed_bytes),
        _mib(free_bytes),
        fraction,
    )
    return batch


def parse_batch_size(value: int | str) -> int | Literal["auto"]:
    """A positive int (also from a numeric string) or "auto"; anything else raises."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text.isascii() and text.isdigit() and int(text) >= 1:
            return int(text)
    elif is_int(value, 1):
        return value
    raise InvalidInputError(
        f"batch_size={value!r} must be a positive integer or 'auto' (the largest batch that fits "
        "free device memory); pass e.g. 512 or auto"
    )


def available_host_bytes() -> int:
    """RAM this process can still use: MemAvailable, lowered to the cgroup's headroom if any."""
    avail = _meminfo_available(Path("/proc/meminfo"))
    if avail is None:  # not Linux: free pages (page cache not counted, so on the low side)
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    headroom = _cgroup_headroom(Path("/sys/fs/cgroup"))
    return avail if headroom is None else min(avail, headroom)


# -- probes -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _eval_on(model: Autoencoder, dev: torch.device) -> Iterator[None]:
    """Probe in eval mode on ``dev`` (where encode_batches runs it); restore mode and device."""
    was_training = model.training
    home = next((p.device for p in model.parameters()), None)
    model.to(dev).eval()
    try:
        yield
    finally:
        model.train(was_training)
        if home is not None:
            model.to(home)


def _forward(model: Autoencoder, x: torch.Tensor, decode: bool) -> list[Any]:
    out = model.encode_stats(x)  # z (B, d), logvar (B, d) or None
    return [out, model.decode(out.z)] if decode else [out]  # + images (B, C, H, W)


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.nbytes
    if isinstance(obj, list | tuple):
        return sum(_tensor_bytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(_tensor_bytes(o) for o in obj.values())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(_tensor_bytes(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    return 0


def _host_bytes(
    model: Autoencoder, shape: tuple[int, ...], b: int, dev: torch.device, decode: bool
) -> int:
    """Input copies + every leaf layer's output + the result, for a forward at batch ``b``."""
    x = torch.zeros((b, *shape), device=dev)  # (b, *item_shape)
    total = x.nbytes * _HOST_INPUT_COPIES

    def add_output(module: torch.nn.Module, args: Any, output: Any) -> None:
        nonlocal total
        total += _tensor_bytes(output)

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    hooks = [m.register_forward_hook(add_output) for m in leaves]
    try:
        with torch.inference_mode():
            out = _forward(model, x, decode)  # the hooks add to total as it runs
        total += _tensor_bytes(out)
    finally:
        for hook in hooks:
            hook.remove()
    return total


def _cuda_peak(
    model: Autoencoder, shape: tuple[int, ...], b: int, dev: torch.device, decode: bool, amp: bool
) -> int:
    """Allocator peak above the current allocation for a forward at batch ``b``, input included."""
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    base = torch.cuda.memory_allocated(dev)
    with torch.inference_mode(), autocast(dev, amp):
        out = _forward(model, torch.zeros((b, *shape), device=dev), decode)
        del out
    torch.cuda.synchronize(dev)
    return torch.cuda.max_memory_allocated(dev) - base


def _cuda_free_bytes(dev: torch.device) -> int:
    free, _ = torch.cuda.mem_get_info(dev)
    # blocks our caching allocator holds but nothing uses are free to us too
    return free + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)


def _largest_that_runs(
    model: Autoencoder,
    shape: tuple[int, ...],
    dev: torch.device,
    batch: int,
    budget: int,
    min_batch: int,
    decode: bool,
    amp: bool,
) -> int:
    """Halve ``batch`` until a real forward pass peaks within ``budget`` bytes."""
    with _eval_on(model, dev):
        while True:
            try:
                peak = _cuda_peak(model, shape, batch, dev, decode, amp)
            except torch.cuda.OutOfMemoryError:
                peak = None
                torch.cuda.empty_cache()
            if peak is not None and peak <= budget:
                return batch
            if batch <= min_batch:
                raise InvalidInputError(
                    f"a forward pass of min_batch={min_batch} item(s) needs more than "
                    f"{_mib(budget)} on {dev}; free GPU memory or run on another device"
                )
            batch = max(min_batch, batch // 2)


# -- host memory ------------------------------------------------------------------------------


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):  # missing, "max" (no limit), or unreadable
        return None


def _meminfo_available(path: Path) -> int | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024  # kB
    return None


def _stat_value(path: Path, key: str) -> int:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    return next((int(v) for k, v in (ln.split() for ln in lines if ln.strip()) if k == key), 0)


def _cgroup_headroom(root: Path) -> int | None:
    """Limit - working set (usage less reclaimable file cache) of cgroup v2 or v1, if limited."""
    for limit_file, usage_file, stat_key in (
        ("memory.max", "memory.current", "inactive_file"),  # v2
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "total_inactive_file"),
    ):
        limit, usage = _read_int(root / limit_file), _read_int(root / usage_file)
        if limit is not None and usage is not None:
            stat = (root / limit_file).parent / "memory.stat"
            return max(0, limit - usage + _stat_value(stat, stat_key))
    return None


# -- checks -----------------------------------------------------------------------------------


def _mib(n: int | float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _check_int(value: object, name: str, low: int, hint: str) -> None:
    if not is_int(value, low):
        raise InvalidInputError(f"{name}={value!r} must be an integer >= {low}; {hint}")


def _check_fraction(fraction: object) -> None:
    ok = isinstance(fraction, int | float) and not isinstance(fraction, bool)
    if not ok or not 0.0 < fraction <= 1.0:  # type: ignore[operator]
        raise InvalidInputError(
            f"fraction={fraction!r} must be in (0, 1]; it is the share of free memory a batch may "
            "use, e.g. 0.8"
        )


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    out = tuple(shape)
    if not out or any(not is_int(s, 1) for s in out):
        raise InvalidInputError(
            f"item_shape={out!r} must be a non-empty tuple of positive ints, e.g. (1, 64, 64); "
            "leave it None to use the model's x_shape"
        )
    return out
