"""Content-addressed safetensors checkpoints shared by the model and judge registries.

Weights are serialised in memory, hashed, and written once under ``<sha256>.safetensors``
(atomic locally, a single PUT on S3); loading re-hashes the bytes before parsing them.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn

from latentops.errors import CorruptArtifactError, NotFoundError
from latentops.storage._location import Location


def save_state(
    blobs: Location | str | os.PathLike[str], module: nn.Module, metadata: dict[str, str]
) -> tuple[str, str]:
    """Write ``module``'s weights once under their content hash; return (relative path, sha256)."""
    state = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    return save_tensors(blobs, state, metadata)


def save_tensors(
    blobs: Location | str | os.PathLike[str],
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, str],
) -> tuple[str, str]:
    """Write ``tensors`` once under their content hash; return (relative path, sha256)."""
    blobs = Location.of(blobs)
    data = save(tensors, metadata=metadata)
    sha = hashlib.sha256(data).hexdigest()
    target = blobs / f"{sha}.safetensors"
    # Same name = same bytes, so a racing writer is harmless; a blob that no longer matches
    # its name (corrupted on disk) is rewritten, so registering again repairs it.
    if not target.exists() or hashlib.sha256(target.read_bytes()).hexdigest() != sha:
        target.write_bytes(data)
    return f"{blobs.name}/{sha}.safetensors", sha


def load_state(
    root: Location | str | os.PathLike[str],
    card: dict[str, Any],
    what: str,
    fix: str,
    device: torch.device | str,
) -> dict[str, torch.Tensor]:
    """The verified weights of ``card`` (checkpoint path + sha256), or a clear error."""
    path = Location.of(root) / card["checkpoint"]
    try:
        data = path.read_bytes()
    except NotFoundError:
        raise NotFoundError(
            f"checkpoint {path} of {what} {card['ref']} is missing; the store was copied "
            "without its checkpoints/ folder"
        ) from None
    if hashlib.sha256(data).hexdigest() != card["sha256"]:
        raise CorruptArtifactError(
            f"checkpoint {path} of {what} {card['ref']} does not match its sha256 "
            f"{card['sha256'][:12]}…; the file is corrupt or was replaced: {fix}"
        )
    try:
        state = load(data)
    except SafetensorError as exc:
        raise CorruptArtifactError(f"checkpoint {path} cannot be read: {exc}") from exc
    return {k: v.to(device) for k, v in state.items()}
