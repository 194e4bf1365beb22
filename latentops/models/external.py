"""Models users bring: a factory, an exported program or an entry point, behind the protocol.

``ExternalModel`` adapts any ``nn.Module`` with ``encode(x) -> z (B, d)`` and a ``spec`` (a
``ModelSpec`` or a dict of its fields) to the interface the codec, flows and evaluation use.
Optional parts are found by name: ``decode(z)``, ``encode_posterior(x) -> (mu, logvar)``,
``first_decoder_weight() -> (out, d)``, ``codebook`` + ``token_shape``. Building one from a
factory runs the user's code, by design; weights are loaded by storage/ from safetensors.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from latentops.errors import InvalidInputError, NotFoundError, UnsupportedOperationError
from latentops.models.base import Autoencoder, EncodeOutput, LossOutput
from latentops.models.protocol import Capabilities, ModelSpec

ENTRY_POINT_GROUP = "latentops.models"


class ExternalModel(Autoencoder):
    """A user's module ``net`` behind the latentops model interface (arch ``external``)."""

    arch = "external"

    def __init__(self, net: nn.Module, spec: ModelSpec, label: str = "external model") -> None:
        super().__init__()
        self.net = net
        self.config = spec
        self.label = label  # how messages name it: the factory, the .pt2 or the entry point
        self.has_decoder = callable(getattr(net, "decode", None))
        self.has_posterior = callable(getattr(net, "encode_posterior", None))
        self.prior = spec.prior

    @property
    def latent_dim(self) -> int:
        """d from the spec."""
        return self.config.d

    @property
    def x_shape(self) -> tuple[int, ...]:
        """One input item's shape from the spec."""
        return self.config.input_shape

    @property
    def spec(self) -> ModelSpec:
        """The spec the user's module declared."""
        return self.config

    @property
    def capabilities(self) -> Capabilities:
        """Which optional methods the user's module has."""
        return Capabilities(
            decodes=self.has_decoder,
            posterior=self.has_posterior,
            first_decoder_layer=callable(getattr(self.net, "first_decoder_weight", None)),
            codebook=hasattr(self.net, "codebook") and hasattr(self.net, "token_shape"),
        )

    @property
    def codebook(self) -> torch.Tensor:
        """The user's codebook (K, D), when it has one."""
        return self.net.codebook

    @property
    def token_shape(self) -> tuple[int, int, int]:
        """The user's VQ token grid, when it has one."""
        return self.net.token_shape

    def encode_stats(self, x: torch.Tensor) -> EncodeOutput:
        """z (B, d) from the user's encode (or encode_posterior: mu and logvar)."""
        x = self.check_x(x)
        if self.has_posterior:
            z, logvar = self.net.encode_posterior(x)
            return EncodeOutput(
                z=self._check_out(z, len(x)), logvar=self._check_out(logvar, len(x))
            )
        return EncodeOutput(z=self._check_out(self.net.encode(x), len(x)), logvar=None)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The user's decode of z (B, d)."""
        if not self.has_decoder:
            raise UnsupportedOperationError(
                f"{self.label} has no decode(z); edit and score its latents without images "
                "(--no-images), or register it with a decoder"
            )
        return self.net.decode(self.check_z(z))

    def first_decoder_weight(self) -> torch.Tensor:
        """The user's first decoder layer weight (out, d), for SeFa."""
        if not self.capabilities.first_decoder_layer:
            raise UnsupportedOperationError(
                f"{self.label} has no first_decoder_weight() (an (out, d) weight on z), which "
                "SeFa needs; add that method to the module or use a supervised direction method"
            )
        return self.net.first_decoder_weight()

    def loss(self, x: torch.Tensor) -> LossOutput:
        """Always raises: external models are trained by their owner's loop."""
        raise UnsupportedOperationError(
            f"{self.label} is trained outside latentops; train it with your own loop, then "
            "register its weights with latentops models register"
        )

    def check_x(self, x: torch.Tensor) -> torch.Tensor:
        """Raise unless x is a float batch (B, *input_shape)."""
        ok = isinstance(x, torch.Tensor) and x.is_floating_point() and x.ndim >= 1
        if not ok or tuple(x.shape[1:]) != self.x_shape:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InvalidInputError(
                f"{self.label} takes a float batch of shape (B, {str(self.x_shape)[1:-1]}) per"
                f" its spec, got {got}; use a dataset whose items match the spec"
            )
        return x

    def _check_out(self, z: object, n: int) -> torch.Tensor:
        # Cheap per batch: a wrong shape would otherwise surface as a confusing table error.
        if not isinstance(z, torch.Tensor) or tuple(z.shape) != (n, self.latent_dim):
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise InvalidInputError(
                f"{self.label} encoded {n} items to {got}, not ({n}, {self.latent_dim}) as its "
                "spec says; fix encode() or the spec's d"
            )
        return z

    def extra_repr(self) -> str:
        return f"label={self.label!r}, spec={self.config}"


def adapt(obj: object, label: str) -> ExternalModel:
    """Wrap what a factory returned, refusing objects that are not protocol modules."""
    if not isinstance(obj, nn.Module) or not callable(getattr(obj, "encode", None)):
        raise InvalidInputError(
            f"{label} returned {type(obj).__name__}, not a torch nn.Module with an encode(x) "
            "method; return the module itself (build it, do not train or wrap it)"
        )
    if not hasattr(obj, "spec"):
        raise InvalidInputError(
            f"{label} returned a {type(obj).__name__} without a spec; set self.spec = "
            "{'d': ..., 'input_kind': 'image', 'input_shape': [1, 32, 32], 'prior': 'none'} "
            "(or a latentops.models.ModelSpec)"
        )
    return ExternalModel(obj, ModelSpec.of(obj.spec), label)


def resolve_factory(path: str) -> Callable[..., Any]:
    """The callable named by ``package.module:attr`` (importing the module runs its code)."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidInputError(
            f"factory {path!r} must look like package.module:function, e.g. mymodels.conv:build"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any error while importing the user's module
        raise InvalidInputError(
            f"factory module {module_name!r} cannot be imported ({type(exc).__name__}: {exc}); "
            "put its directory on PYTHONPATH or install its package"
        ) from None
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
    if not callable(factory):
        raise InvalidInputError(
            f"factory {path!r}: module {module_name!r} has no callable {attr!r}; name the "
            "function that builds the model"
        )
    return factory


def build_external(path: str, config: Mapping[str, Any]) -> ExternalModel:
    """Call the factory ``path`` with ``config`` as keywords and adapt what it returns."""
    factory = resolve_factory(path)
    try:
        obj = factory(**dict(config))
    except TypeError as exc:
        raise InvalidInputError(
            f"factory {path!r} rejected config keys {sorted(config)}: {exc}; fix the config JSON"
        ) from None
    except Exception as exc:  # the user's code refused its config values
        raise InvalidInputError(
            f"factory {path!r} failed with config {dict(config)} ({type(exc).__name__}: {exc}); "
            "fix the config JSON"
        ) from None
    return adapt(obj, f"factory {path!r}")


def entry_point(name: str) -> tuple[str, str]:
    """(``module:attr``, distribution name and version) of entry point ``name`` in our group."""
    found = [
        ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name
    ]
    if not found:
        known = sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        raise NotFoundError(
            f"no entry point {name!r} in group {ENTRY_POINT_GROUP!r}; installed ones: {known}. "
            "Install the package that ships the model"
        )
    ep = found[0]
    dist = f"{ep.dist.name}=={ep.dist.version}" if ep.dist is not None else "unknown"
    return ep.value, dist


def list_entry_points() -> list[str]:
    """Names of the models installed packages offer in the ``latentops.models`` group."""
    return sorted(ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


class ExportedEncoder(nn.Module):
    """A ``torch.export`` encoder program as a protocol module: no user Python at load time."""

    def __init__(self, encoder: nn.Module, spec: ModelSpec) -> None:
        super().__init__()
        self.encoder = encoder
        self.spec = spec

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z (B, d) from the exported encoder."""
        return self.encoder(x)

    def train(self, mode: bool = True) -> ExportedEncoder:
        """Only flags the mode: exported programs are fixed (always in the mode exported)."""
        self.training = mode
        return self


class ExportedAutoencoder(ExportedEncoder):
    """Exported encoder and decoder programs."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, spec: ModelSpec) -> None:
        super().__init__(encoder, spec)
        self.decoder = decoder

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x (B, *input_shape) from the exported decoder."""
        return self.decoder(z)


def _one_tensor(vals: list, what: str, label: str) -> torch.Tensor:
    if len(vals) != 1 or not isinstance(vals[0], torch.Tensor):
        raise InvalidInputError(
            f"{label}: the exported {what} must take and return one tensor, got {len(vals)}; "
            "export a module whose forward maps x to z (or z to x for a decoder)"
        )
    return vals[0]


def program_shapes(program: torch.export.ExportedProgram, label: str) -> tuple[tuple, tuple]:
    """(input shape, output shape) of one item of an exported program; batch dim dynamic."""
    user = set(program.graph_signature.user_inputs)
    inputs = [
        n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder" and n.name in user
    ]
    outputs = list(program.graph.output_node().args[0])
    x = _one_tensor(inputs, "program", label)
    y = _one_tensor(
        [o.meta.get("val") if hasattr(o, "meta") else None for o in outputs], "program", label
    )
    if isinstance(x.shape[0], int):
        raise InvalidInputError(
            f"{label} was exported with a fixed batch size {x.shape[0]}; export it with a "
            "dynamic batch: torch.export.export(m, (x,), dynamic_shapes={'x': {0: "
            "torch.export.Dim('batch')}})"
        )
    if any(not isinstance(s, int) for s in (*x.shape[1:], *y.shape[1:])):
        raise InvalidInputError(f"{label}: only the batch dimension may be dynamic")
    return tuple(int(s) for s in x.shape[1:]), tuple(int(s) for s in y.shape[1:])


def from_programs(
    encoder: torch.export.ExportedProgram,
    decoder: torch.export.ExportedProgram | None,
    prior: str,
    label: str,
) -> ExternalModel:
    """An ExternalModel of exported programs; the spec comes from the encoder's shapes."""
    x_shape, z_shape = program_shapes(encoder, f"{label} encoder")
    if len(z_shape) != 1:
        raise InvalidInputError(
            f"{label} encoder returns items of shape {z_shape}; it must return z of shape (B, d)"
        )
    kind = {3: "image", 1: "vector"}.get(len(x_shape))
    if kind is None:
        raise InvalidInputError(
            f"{label} encoder takes items of shape {x_shape}; use (C, H, W) images or (n,) vectors"
        )
    spec = ModelSpec(z_shape[0], kind, x_shape, prior)
    if decoder is None:
        return ExternalModel(ExportedEncoder(encoder.module(), spec), spec, label)
    z_in, x_out = program_shapes(decoder, f"{label} decoder")
    if (z_in, x_out) != (z_shape, x_shape):
        raise InvalidInputError(
            f"{label} decoder maps {z_in} to {x_out}, but the encoder maps {x_shape} to "
            f"{z_shape}; export the decoder of the same model"
        )
    return ExternalModel(ExportedAutoencoder(encoder.module(), decoder.module(), spec), spec, label)
