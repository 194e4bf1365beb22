"""Content fingerprints: sha256 over generator parameters or over array bytes, chunk by chunk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

_CHUNK_BYTES = 1 << 24  # hash memory-mapped arrays 16 MiB at a time, never all at once


def params_fingerprint(kind: str, version: int, params: Mapping[str, Any]) -> str:
    """Hex sha256 of a generator's kind, version and JSON-able parameters."""
    blob = json.dumps({"kind": kind, "version": version, "params": dict(params)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _update_with_array(h: Any, name: str, a: np.ndarray) -> None:
    h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
    if a.dtype.kind in "OUS":  # strings: hash their text, not object pointers
        h.update("\x1f".join(map(str, a.reshape(-1).tolist())).encode())
        return
    flat = a.reshape(len(a), -1) if a.ndim else a.reshape(1, 1)
    rows = max(1, _CHUNK_BYTES // max(1, flat[:1].nbytes))
    for start in range(0, len(flat), rows):
        h.update(np.ascontiguousarray(flat[start : start + rows]).tobytes())


def arrays_fingerprint(kind: str, arrays: Mapping[str, np.ndarray]) -> str:
    """Hex sha256 over named arrays (dtype, shape and bytes), in name order."""
    h = hashlib.sha256(f"{kind}|".encode())
    for name in sorted(arrays):
        _update_with_array(h, name, np.asarray(arrays[name]))
    return h.hexdigest()
