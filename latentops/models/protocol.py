"""The latent-model protocol: what any model must offer to take part in the pipeline.

A latent model encodes a batch to (B, d) and may decode (B, d) back. It declares a
``ModelSpec`` (d, the input it takes, its prior, its latent dtype) and ``Capabilities`` (does
it decode, has it a posterior, a first decoder layer for SeFa, a codebook). Flows and
evaluation ask ``require(model, ...)`` before using an optional part, so a model that lacks
it is refused with its name and the missing capability instead of failing deep in a task.
The built-in VAE/AE/VQ-VAE/identity models and registered external models all implement it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch

from latentops.errors import InvalidInputError, UnsupportedOperationError

InputKind = Literal["image", "vector", "text"]
Prior = Literal["standard_normal", "none"]
_KINDS = ("image", "vector", "text")
_PRIORS = ("standard_normal", "none")
_DTYPES = ("float32", "float16", "bfloat16", "float64")


@dataclass(frozen=True)
class ModelSpec:
    """What a model takes and gives: latent length ``d``, one input item's kind and shape, prior."""

    d: int
    input_kind: InputKind
    input_shape: tuple[int, ...]  # one item: (C, H, W) image, (n,) vector, () text
    prior: Prior = "none"
    dtype: str = "float32"  # dtype of the z that encode returns

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        if isinstance(self.d, bool) or not isinstance(self.d, int) or self.d < 1:
            raise InvalidInputError(f"spec d={self.d!r} must be a positive int (the latent length)")
        if self.input_kind not in _KINDS:
            raise InvalidInputError(f"spec input_kind={self.input_kind!r}; use one of {_KINDS}")
        bad_shape = any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.input_shape
        )
        want = {"image": 3, "vector": 1, "text": 0}[self.input_kind]
        if bad_shape or len(self.input_shape) != want:
            raise InvalidInputError(
                f"spec input_shape={self.input_shape!r} does not fit input_kind "
                f"{self.input_kind!r}: use {want} positive int(s), e.g. (1, 32, 32) for an image"
            )
        if self.prior not in _PRIORS:
            raise InvalidInputError(f"spec prior={self.prior!r}; use one of {_PRIORS}")
        if self.dtype not in _DTYPES:
            raise InvalidInputError(f"spec dtype={self.dtype!r}; use one of {_DTYPES}")

    @classmethod
    def of(cls, value: ModelSpec | Mapping[str, Any]) -> ModelSpec:
        """A spec from a ModelSpec or a mapping of its fields (e.g. a card's JSON)."""
        if isinstance(value, ModelSpec):
            return value
        if not isinstance(value, Mapping):
            raise InvalidInputError(
                "a model spec must be a ModelSpec or a dict of its fields, got "
                f"{type(value).__name__}"
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - fields)
        if unknown:
            raise InvalidInputError(
                f"model spec has unknown field(s) {unknown}; use {sorted(fields)}"
            )
        try:
            return cls(**value)
        except TypeError as exc:
            raise InvalidInputError(f"model spec {dict(value)} is incomplete: {exc}") from None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able fields (the input shape as a list)."""
        return {**dataclasses.asdict(self), "input_shape": list(self.input_shape)}

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype of z."""
        return getattr(torch, self.dtype)


@dataclass(frozen=True)
class Capabilities:
    """Optional parts a model has; flows ``require`` one before using it."""

    decodes: bool = False  # decode(z) -> x: edits with images, reports, judge scorecards
    posterior: bool = False  # a posterior log-variance next to z (stored as logvar)
    first_decoder_layer: bool = False  # first_decoder_weight() (out, d): SeFa
    codebook: bool = False  # codebook (K, D) + token_shape: VQ code swaps, codebook usage

    def as_dict(self) -> dict[str, bool]:
        """JSON-able flags."""
        return dataclasses.asdict(self)


_WHAT = {
    "decodes": "decoder (decode(z))",
    "posterior": "posterior (mu, logvar)",
    "first_decoder_layer": "first decoder layer (first_decoder_weight(): an (out, d) weight on z)",
    "codebook": "codebook (VQ tokens)",
}


@runtime_checkable
class LatentModel(Protocol):
    """Anything with ``spec``, ``capabilities`` and ``encode(x (B, *input_shape)) -> z (B, d)``."""

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...


def require(
    model: LatentModel | Capabilities, capability: str, model_ref: str, purpose: str, fix: str
) -> None:
    """Raise UnsupportedOperationError unless ``model`` (or its capabilities, e.g. read from
    its card without loading it) has ``capability`` (for ``purpose``)."""
    if capability not in _WHAT:
        raise InvalidInputError(f"unknown capability {capability!r}; known: {sorted(_WHAT)}")
    capabilities = model if isinstance(model, Capabilities) else model.capabilities
    if not getattr(capabilities, capability):
        raise UnsupportedOperationError(
            f"model {model_ref} has no {_WHAT[capability]}, which {purpose} needs; {fix}"
        )


def check_input_shape(
    spec: ModelSpec, x_shape: tuple[int, ...], model_ref: str, dataset: str
) -> None:
    """Raise unless the dataset's item shape is the one the model's spec takes."""
    if tuple(x_shape) != spec.input_shape:
        raise InvalidInputError(
            f"model {model_ref} takes {spec.input_kind} items of shape {spec.input_shape} but "
            f"dataset {dataset!r} gives items of shape {tuple(x_shape)}; pick a dataset whose "
            "items match the model's spec (built-ins: --image-size/--upsample; your own "
            "images: resize them to it)"
        )
