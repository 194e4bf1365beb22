"""Content-addressed safetensors checkpoints shared by the model and judge registries."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from latentops.errors import CorruptArtifactError, NotFoundError


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_state(blobs: Path, module: nn.Module, metadata: dict[str, str]) -> tuple[str, str]:
    """Write ``module``'s weights once under their content hash; return (relative path, sha256)."""
    blobs.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=blobs, suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=metadata)
        sha = file_sha256(Path(tmp))
        os.replace(tmp, blobs / f"{sha}.safetensors")  # atomic: never a half-written file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return f"{blobs.name}/{sha}.safetensors", sha


def load_state(
    root: Path, card: dict[str, Any], what: str, fix: str, device: torch.device | str
) -> dict[str, torch.Tensor]:
    """The verified weights of ``card`` (checkpoint path + sha256), or a clear error."""
    path = root / card["checkpoint"]
    if not path.exists():
        raise NotFoundError(
            f"checkpoint {path} of {what} {card['ref']} is missing; the store was copied "
            "without its checkpoints/ folder"
        )
    if file_sha256(path) != card["sha256"]:
        raise CorruptArtifactError(
            f"checkpoint {path} of {what} {card['ref']} does not match its sha256 "
            f"{card['sha256'][:12]}…; the file is corrupt or was replaced: {fix}"
        )
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as exc:
        raise CorruptArtifactError(f"checkpoint {path} cannot be read: {exc}") from exc
