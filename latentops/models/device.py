"""Device choice and mixed precision: CUDA when present, bfloat16 autocast on CUDA only."""

from __future__ import annotations

import contextlib

import torch

from latentops.errors import InvalidInputError


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """``requested`` as a usable torch.device; None or "auto": cuda when present, else cpu."""
    if requested is None or requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(requested)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(
            f"device={requested!r} is not a device name; use 'cpu', 'cuda', 'cuda:N' or 'auto'"
        ) from exc
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (dev.index is not None and dev.index >= count):
            raise InvalidInputError(
                f"device={requested!r} was requested but this machine has {count} CUDA device(s); "
                "use device='cpu' (or 'auto')"
            )
        return dev
    if dev.type == "mps" and torch.backends.mps.is_available():
        return dev
    if dev.type != "cpu":
        raise InvalidInputError(
            f"device={requested!r} is not available here; use 'cpu', 'cuda', 'cuda:N' or 'auto'"
        )
    return dev


def amp_dtype(device: torch.device, enabled: bool = True) -> torch.dtype | None:
    """bfloat16 on CUDA GPUs that support it (no loss scaling needed), else None (float32)."""
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """Autocast context for ``device``: bfloat16 on CUDA when enabled, a no-op otherwise."""
    dtype = amp_dtype(device, enabled)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device(x: torch.Tensor | list[str], device: torch.device) -> torch.Tensor | list[str]:
    """Copy a host batch to ``device``; on CUDA through pinned memory, without blocking.

    Texts stay on the host: a text encoder tokenizes them onto its own device.
    """
    if not isinstance(x, torch.Tensor):
        return x
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)
