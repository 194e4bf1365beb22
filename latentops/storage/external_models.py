"""Build, record and rebuild models users bring: a factory, ``.pt2`` programs, an entry point.

A ``Build`` says how to make the model again (the card's ``config``) plus its fingerprint:
the weights' sha256 (the stored checkpoint) and the code identity, the sha256 of the
factory's module file (or of the ``.pt2`` files). Loading re-checks the code identity and
refuses a model whose factory module changed since registration: latents it would encode
next to the stored ones would come from other code, silently (register it again instead).
Weights are read with safetensors only; ``.pt2`` files with ``torch.export.load``, after
checking that the archive holds nothing it would unpickle.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors

from latentops.errors import CorruptArtifactError, InvalidInputError, NotFoundError
from latentops.models import (
    ExternalModel,
    build_external,
    entry_point,
    from_programs,
    load_model_state,
)
from latentops.storage._location import Location

SOURCES = ("factory", "exported", "entry_point")


@dataclass
class Build:
    """A built external model, the card config that rebuilds it, and blobs still to store."""

    model: ExternalModel
    config: dict[str, Any]  # {"source": ..., ..., "code_sha256": ..., "spec": {...}}
    programs: dict[str, bytes] = field(default_factory=dict)  # "encoder"/"decoder" .pt2 bytes


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise NotFoundError(f"{what} {str(path)!r} cannot be read: {exc.strerror}") from None


def read_config(path: str | Path | None) -> dict[str, Any]:
    """The factory's keyword config from a JSON object file ({} without a file)."""
    if path is None:
        return {}
    try:
        config = json.loads(_read(path, "config file"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"config file {str(path)!r} is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise InvalidInputError(
            f"config file {str(path)!r} holds a {type(config).__name__}; it must be a JSON "
            'object of the factory\'s keyword arguments, e.g. {"latent_dim": 8}'
        )
    return config


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file (never a pickle)."""
    try:
        return load_safetensors(_read(path, "weights file"))
    except SafetensorError as exc:
        raise CorruptArtifactError(
            f"weights file {str(path)!r} is not safetensors ({exc}); save it with "
            "safetensors.torch.save_file(model.state_dict(), path), not torch.save"
        ) from None


def code_sha256(factory: str) -> tuple[str, str]:
    """(module file, sha256 of its bytes) of an imported factory ``module:attr``."""
    module = sys.modules[factory.partition(":")[0]]
    path = getattr(module, "__file__", None)
    if path is None:
        raise InvalidInputError(
            f"factory {factory!r} lives in a module without a file; put it in a .py file"
        )
    return path, hashlib.sha256(_read(path, "factory module")).hexdigest()


def _refuse_pickles(data: bytes, what: str) -> None:
    """Raise unless the .pt2 archive holds only raw tensors: torch.export.load would unpickle
    (weights_only=False) tensor subclasses, custom objects, and sample inputs that fail the
    safe loader, and latentops never unpickles a user's file."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except zipfile.BadZipFile:
        raise CorruptArtifactError(
            f"{what} is not a .pt2 archive; save it with torch.export.save(program, path)"
        ) from None
    pickled = []
    for name in names:
        if name.endswith(("_weights_config.json", "_constants_config.json")):
            entries = json.loads(archive.read(name)).get("config", {})
            pickled += [
                k
                for k, meta in entries.items()
                if meta.get("use_pickle") or not meta.get("path_name", "").startswith(_RAW)
            ]
        elif "/sample_inputs/" in name:
            try:
                torch.load(io.BytesIO(archive.read(name)), weights_only=True)
            except Exception:  # anything the safe loader refuses would be unpickled
                pickled.append(name)
    if pickled:
        raise CorruptArtifactError(
            f"{what} holds pickled objects {sorted(pickled)[:5]}, and latentops never "
            "unpickles a user's file; export plain tensors (no tensor subclasses or custom "
            "objects) and tensor sample inputs"
        )


_RAW = ("weight_", "tensor_")  # raw tensor payloads of a .pt2 archive (never pickled)


def _load_program(data: bytes, what: str) -> torch.export.ExportedProgram:
    _refuse_pickles(data, what)
    try:
        return torch.export.load(io.BytesIO(data))
    except Exception as exc:  # torch raises many types for a file that is not an archive
        raise CorruptArtifactError(
            f"{what} is not a torch.export program ({type(exc).__name__}: {exc}); save it with "
            "torch.export.save(torch.export.export(module, (x,)), path)"
        ) from None


def from_factory(
    factory: str,
    config: dict[str, Any],
    weights: dict[str, torch.Tensor] | None,
    *,
    source: str = "factory",
    extra: dict[str, Any] | None = None,
) -> Build:
    """Run the factory (user code) with ``config``, load ``weights`` strictly, record how."""
    model = build_external(factory, config)
    if weights is not None:
        load_model_state(model, weights)
    module_file, sha = code_sha256(factory)
    record = {
        "source": source,
        "factory": factory,
        "config": config,
        "module_file": module_file,
        "code_sha256": sha,
        "spec": model.spec.as_dict(),
        "capabilities": model.capabilities.as_dict(),
        **(extra or {}),
    }
    return Build(model, record)


def from_entry_point(
    name: str, config: dict[str, Any], weights: dict[str, torch.Tensor] | None
) -> Build:
    """The factory an installed package names under ``latentops.models`` ``name``."""
    factory, dist = entry_point(name)
    extra = {"entry_point": name, "distribution": dist}
    return from_factory(factory, config, weights, source="entry_point", extra=extra)


def from_exported(encoder: str | Path, decoder: str | Path | None, prior: str) -> Build:
    """Exported ``.pt2`` encoder (and decoder) programs: no user Python needed to load them."""
    programs = {"encoder": _read(encoder, "exported encoder")}
    if decoder is not None:
        programs["decoder"] = _read(decoder, "exported decoder")
    return _exported(programs, prior, f"exported program {Path(encoder).name!r}")


def _exported(programs: dict[str, bytes], prior: str, label: str) -> Build:
    loaded = {k: _load_program(v, f"{label} ({k})") for k, v in programs.items()}
    model = from_programs(loaded["encoder"], loaded.get("decoder"), prior, label)
    shas = {k: hashlib.sha256(v).hexdigest() for k, v in programs.items()}
    record = {
        "source": "exported",
        "prior": prior,
        "programs": {k: f"checkpoints/{sha}.pt2" for k, sha in shas.items()},
        "program_sha256": shas,
        "code_sha256": hashlib.sha256("".join(sorted(shas.values())).encode()).hexdigest(),
        "spec": model.spec.as_dict(),
        "capabilities": model.capabilities.as_dict(),
    }
    return Build(model, record, programs)


def store_programs(blobs: Location, programs: dict[str, bytes]) -> None:
    """Write each program once under its content hash (same name = same bytes)."""
    for data in programs.values():
        target = blobs / f"{hashlib.sha256(data).hexdigest()}.pt2"
        if not target.exists():
            target.write_bytes(data)


def rebuild(
    root: Location, card: dict[str, Any], state: dict[str, torch.Tensor] | None
) -> ExternalModel:
    """The model of an external card, refusing changed code (the fingerprint's other half)."""
    build = card["config"]
    if build["source"] == "exported":
        programs = {}
        for key, rel in build["programs"].items():
            data = (root / rel).read_bytes()
            if hashlib.sha256(data).hexdigest() != build["program_sha256"][key]:
                raise CorruptArtifactError(
                    f"exported {key} {rel} of model {card['ref']} does not match its sha256; "
                    "the file is corrupt or was replaced: register the model again"
                )
            programs[key] = data
        return _exported(programs, build["prior"], f"model {card['ref']}").model
    if build["source"] == "entry_point":
        factory, _ = entry_point(build["entry_point"])
    else:
        factory = build["factory"]
    model = build_external(factory, build["config"])
    module_file, sha = code_sha256(factory)
    if sha != build["code_sha256"]:
        raise CorruptArtifactError(
            f"model {card['ref']}: factory module {module_file} changed since registration "
            f"(sha256 {sha[:12]}…, registered {build['code_sha256'][:12]}…), so it may encode "
            "differently from the stored latents; restore the module, or register it again "
            "(latentops models register) to make a new version"
        )
    return load_model_state(model, state) if state is not None else model
