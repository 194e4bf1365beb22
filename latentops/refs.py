"""Artifact references ``name@version`` and the rules for names (pure, no IO)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from latentops.errors import InvalidInputError

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a safe artifact/table name, else raise InvalidInputError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            f"{what} {name!r} is not allowed: use 1-64 letters, digits, '_' or '-', starting "
            "with a letter (no '/', '.', spaces or other path characters)"
        )
    return name


def generated_name(*parts: str) -> str:
    """A name latentops makes up, as a plain SQL identifier: ``[a-z0-9_]``, a letter first.

    Parts are joined with ``_``, lowercased, and every other character becomes ``_``, so
    ``generated_name("dsprites", "demo-vae", "v1")`` is ``dsprites_demo_vae_v1``, which a
    user can type unquoted in ``latentops sql``.
    """
    name = re.sub(r"[^a-z0-9_]", "_", "_".join(parts).lower())
    if not name[:1].isalpha():
        name = f"t_{name}"
    return name[:64]


def default_table_name(dataset: str, model_ref: str) -> str:
    """``<dataset>_<model>_v<version>`` as a SQL identifier: one table per model version."""
    ref = parse_ref(model_ref, "model")
    return generated_name(dataset, ref.name, f"v{ref.version}")


@dataclass(frozen=True)
class Ref:
    """A reference to a versioned artifact; ``version=None`` means the latest."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"

    def pinned(self, version: int) -> Ref:
        """Return the same name at an explicit version."""
        return Ref(self.name, version)


def parse_ref(text: str, what: str = "reference") -> Ref:
    """Parse ``name`` or ``name@N`` (N >= 1) into a Ref."""
    if not isinstance(text, str) or not text:
        raise InvalidInputError(f"{what} must be 'name' or 'name@version', got {text!r}")
    name, sep, version = text.partition("@")
    check_name(name, what)
    if not sep:
        return Ref(name)
    if not version.isdigit() or int(version) < 1:
        raise InvalidInputError(
            f"{what} {text!r} has version {version!r}; versions are integers >= 1, e.g. {name}@1"
        )
    return Ref(name, int(version))
