"""Direction: a unit attribute vector plus how it was fitted and how well it held out."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from latentops.errors import CorruptArtifactError, InvalidInputError

KINDS = ("classification", "regression", "unsupervised", "manual")
OPERATIONS = ("add", "project")
FORMS = ("filter", "pattern")
CARD_VERSION = 1
# Fields a card must carry; everything else has a default.
_REQUIRED_CARD_KEYS = ("method", "kind")


def _as_vector(vector: Any) -> np.ndarray:
    """A finite, non-zero (d,) float32 copy of ``vector`` scaled to unit norm."""
    if isinstance(vector, torch.Tensor):
        vector = vector.detach().cpu().numpy()
    try:
        v = np.asarray(vector, dtype=np.float64)  # normalise in float64, store float32
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"direction vector of type {type(vector).__name__} is not numeric ({exc}); "
            "pass a 1-D float array of length d"
        ) from exc
    if v.ndim != 1 or v.shape[0] == 0:
        raise InvalidInputError(
            f"direction vector must be 1-D with d >= 1 entries, got shape {v.shape}; "
            "pass one (d,) vector (use vector.reshape(-1) for a (1, d) boundary file)"
        )
    if not np.isfinite(v).all():
        raise InvalidInputError(
            f"direction vector holds {int((~np.isfinite(v)).sum())} NaN/inf value(s) "
            f"(d={v.shape[0]}); refit it on finite latents"
        )
    norm = float(np.linalg.norm(v))
    if norm <= 1e-12:
        raise InvalidInputError(
            f"direction vector has norm {norm:.3g} (d={v.shape[0]}), which cannot define a "
            "direction; refit with labels that actually separate, or pass a non-zero vector"
        )
    out = (v / norm).astype(np.float32)
    out.setflags(write=False)  # the dataclass is frozen; so is its vector
    return out


def _clean_metrics(metrics: dict[str, Any]) -> dict[str, float | int]:
    """Metrics as plain Python numbers (numpy scalars converted), rejecting anything else."""
    out: dict[str, float | int] = {}
    for key, value in metrics.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)
        ):
            raise InvalidInputError(
                f"metric {key!r}={value!r} must be an int or float; store other facts in params"
            )
        value = value.item() if isinstance(value, (np.integer, np.floating)) else value
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(
                f"metric {key!r} is {value}; leave an undefined metric out instead of storing it"
            )
        out[str(key)] = value
    return out


def _json_dict(value: Any, what: str) -> dict[str, Any]:
    """A detached JSON round trip of a dict field (checks JSON-ability on the way)."""
    if not isinstance(value, dict):
        raise InvalidInputError(f"{what} must be a dict, got {type(value).__name__}")
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{what} must be JSON-serialisable ({exc}); convert arrays with .tolist() and "
            "numpy scalars with .item()"
        ) from exc


@dataclass(frozen=True, eq=False)
class Direction:
    """A unit direction in latent space and everything needed to trust and reuse it.

    ``operation`` is "add" (edit with z + strength * vector) or "project" (a conditional
    direction: orthogonalised against ``params["orthogonal_to"]``, so adding it leaves the
    projections on those directions unchanged). ``sign`` is +1 when moving along ``vector``
    gives more of ``label`` and -1 when it gives less (only manual directions can be -1:
    fitted ones are oriented so that +vector means more of the label).

    ``form`` says what a supervised vector is: "filter" (the fitted weights w, the best linear
    readout, used for probing) or "pattern" (Cov(z) w, the direction the attribute varies
    along in the data, used for editing; the unit filter is then kept in ``filter``).
    ``std`` is the std of the data's projection on ``vector``: ``offsets`` turns strengths in
    those units (1 = one standard deviation of the data along the direction) into latent
    distances; None (no data seen, e.g. a manual vector) means strengths are latent distances.
    """

    vector: np.ndarray  # (d,) float32, unit norm, read-only
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float | int] = field(default_factory=dict)
    label: str | None = None
    kind: str = "manual"
    operation: str = "add"
    sign: int = 1
    component: int | None = None
    form: str | None = None
    std: float | None = None
    filter: np.ndarray | None = None  # (d,) unit filter a pattern was computed from
    # what the fit found about itself (directions/audit.py): similar directions, label bias,
    # suggested names of an unsupervised component; JSON, never used to edit
    audit: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vector", _as_vector(self.vector))
        if not isinstance(self.method, str) or not self.method:
            raise InvalidInputError(f"method must be a non-empty string, got {self.method!r}")
        if self.kind not in KINDS:
            raise InvalidInputError(f"kind={self.kind!r} is not one of {KINDS}")
        if self.operation not in OPERATIONS:
            raise InvalidInputError(
                f"operation={self.operation!r} is not one of {OPERATIONS}; "
                "'add' for plain edits, 'project' for conditional (orthogonalised) ones"
            )
        if self.sign not in (1, -1) or isinstance(self.sign, bool):
            raise InvalidInputError(f"sign={self.sign!r} must be 1 or -1")
        if self.component is not None and (
            not isinstance(self.component, (int, np.integer)) or self.component < 0
        ):
            raise InvalidInputError(f"component={self.component!r} must be None or an int >= 0")
        if self.form is not None and self.form not in FORMS:
            raise InvalidInputError(f"form={self.form!r} must be None or one of {FORMS}")
        if self.filter is not None:
            filt = _as_vector(self.filter)
            if filt.shape != self.vector.shape:
                raise InvalidInputError(
                    f"filter has d={filt.shape[0]} but the vector has d={self.d}; "
                    "both must live in the same latent space"
                )
            object.__setattr__(self, "filter", filt)
        if self.std is not None:
            std = self.std
            if isinstance(std, bool) or not isinstance(std, int | float | np.floating):
                raise InvalidInputError(f"std={std!r} must be None or a positive number")
            if not (math.isfinite(std) and std > 0):
                raise InvalidInputError(
                    f"std={std!r} must be finite and > 0: the data's spread along the direction"
                )
            object.__setattr__(self, "std", float(std))
        if self.label is not None and not isinstance(self.label, str):
            raise InvalidInputError(f"label={self.label!r} must be a string or None")
        params = _json_dict(self.params, "params")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "audit", _json_dict(self.audit, "audit"))
        object.__setattr__(self, "metrics", _clean_metrics(dict(self.metrics)))
        if self.component is not None:
            object.__setattr__(self, "component", int(self.component))
        object.__setattr__(self, "sign", int(self.sign))

    @property
    def d(self) -> int:
        """Latent dimension of the vector."""
        return int(self.vector.shape[0])

    @property
    def strength_unit(self) -> str:
        """What a strength of 1 means: one "std" of the data along the direction, or "raw": one
        latent unit (directions fitted without data, e.g. manual or imported ones)."""
        return "raw" if self.std is None else "std"

    def offsets(self, strengths: Any) -> np.ndarray:
        """Latent distances along ``vector`` for ``strengths`` in ``strength_unit`` units."""
        a = np.asarray(strengths, dtype=np.float64)
        if not np.isfinite(a).all():
            raise InvalidInputError(f"strengths {a.tolist()} must be finite numbers")
        return a if self.std is None else a * self.std

    def cosine(self, other: Direction) -> float:
        """Cosine similarity with another direction of the same dimension."""
        if not isinstance(other, Direction):
            raise InvalidInputError(f"cosine needs a Direction, got {type(other).__name__}")
        if other.d != self.d:
            raise InvalidInputError(
                f"cannot compare a d={self.d} direction with a d={other.d} one; "
                "both must come from the same latent space"
            )
        a, b = self.vector.astype(np.float64), other.vector.astype(np.float64)
        return float(np.clip(a @ b, -1.0, 1.0))

    def to_card(self) -> dict[str, Any]:
        """Everything but the vector, as a JSON-able dict (``from_card`` inverts it)."""
        return {
            "card_version": CARD_VERSION,
            "method": self.method,
            "kind": self.kind,
            "label": self.label,
            "operation": self.operation,
            "sign": self.sign,
            "component": self.component,
            "form": self.form,
            "std": self.std,
            "strength_unit": self.strength_unit,
            "filter": None if self.filter is None else [float(x) for x in self.filter],
            "d": self.d,
            "params": json.loads(json.dumps(self.params)),
            "metrics": dict(self.metrics),
            "audit": json.loads(json.dumps(self.audit)),
        }

    @classmethod
    def from_card(cls, card: dict[str, Any], vector: np.ndarray | torch.Tensor) -> Direction:
        """Rebuild a Direction from ``to_card()`` output and its vector; extra keys are ignored."""
        if not isinstance(card, dict):
            raise CorruptArtifactError(
                f"a direction card must be a dict, got {type(card).__name__}"
            )
        missing = [k for k in _REQUIRED_CARD_KEYS if k not in card]
        if missing:
            raise CorruptArtifactError(
                f"direction card lacks {missing} (has {sorted(card)}); "
                "cards come from Direction.to_card()"
            )
        version = card.get("card_version", CARD_VERSION)
        if not isinstance(version, int) or version > CARD_VERSION:
            raise CorruptArtifactError(
                f"direction card_version={version!r} is newer than this latentops "
                f"understands ({CARD_VERSION}) or not a version; upgrade latentops"
            )
        n = int(np.size(vector.detach().cpu() if isinstance(vector, torch.Tensor) else vector))
        if card.get("d") is not None and card["d"] != n:
            raise InvalidInputError(
                f"card says d={card['d']} but the vector has d={n}; "
                "the vector and card belong to different directions"
            )
        return cls(
            vector=vector,
            method=card["method"],
            params=card.get("params") or {},
            metrics=card.get("metrics") or {},
            label=card.get("label"),
            kind=card["kind"],
            operation=card.get("operation", "add"),
            sign=card.get("sign", 1),
            component=card.get("component"),
            form=card.get("form"),
            std=card.get("std"),
            filter=card.get("filter"),
            audit=card.get("audit") or {},
        )

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        comp = f", component={self.component}" if self.component is not None else ""
        form = f", form={self.form!r}" if self.form else ""
        return (
            f"Direction(method={self.method!r}, kind={self.kind!r}, d={self.d}{label}{comp}{form})"
        )
