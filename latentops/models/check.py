"""``check_model``: the checks a model must pass before it is registered or trusted.

Output shape and dtype against the spec, finite values, determinism (encode twice, equal),
the decode∘encode round trip (when it decodes) and encode items/s. Registration refuses a
model that fails any check and names it; ``latentops models check`` prints the whole report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from latentops.errors import InvalidInputError
from latentops.models.base import Autoencoder


@dataclass(frozen=True)
class CheckResult:
    """One named check: passed or not, and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class CheckReport:
    """Every check of one model plus measured figures (round-trip MSE, items/s)."""

    checks: list[CheckResult]
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def raise_on_failure(self, model_ref: str, outcome: str = "") -> None:
        """Raise InvalidInputError naming the first failed check (``outcome``: what follows)."""
        for c in self.checks:
            if not c.ok:
                raise InvalidInputError(
                    f"model {model_ref} fails the {c.name!r} check: {c.detail}{outcome}"
                )


def probe_batch(model: Autoencoder, n: int = 16, seed: int = 0) -> torch.Tensor | list[str]:
    """A reproducible batch (n, *input_shape) without a dataset: [0, 1) images, N(0, 1) vectors,
    numbered sentences for a text model."""
    if model.spec.input_kind == "text":
        return [f"probe sentence number {seed + i} for the model check." for i in range(n)]
    gen = torch.Generator().manual_seed(seed)
    shape = (n, *model.spec.input_shape)
    if model.spec.input_kind == "image":
        return torch.rand(shape, generator=gen)
    return torch.randn(shape, generator=gen)


def _run(model: Autoencoder, fn: str, t: torch.Tensor) -> tuple[torch.Tensor | None, str]:
    try:
        with torch.inference_mode():
            return getattr(model, fn)(t), ""
    except Exception as exc:  # the user's code: report it as the failing check
        return None, f"{fn} raised {type(exc).__name__}: {exc}"


def check_model(model: Autoencoder, x: torch.Tensor | list[str]) -> CheckReport:
    """Run every check on x (B, *input_shape) on CPU in eval mode."""
    model = model.eval()
    spec, n = model.spec, len(x)
    checks: list[CheckResult] = []
    figures: dict[str, float] = {}
    start = time.perf_counter()
    z, err = _run(model, "encode", x)
    seconds = time.perf_counter() - start
    if z is None:
        return CheckReport([CheckResult("output shape", False, err)])
    checks.append(
        CheckResult(
            "output shape", tuple(z.shape) == (n, spec.d), f"{tuple(z.shape)}, spec (B, {spec.d})"
        )
    )
    checks.append(
        CheckResult("dtype", z.dtype == spec.torch_dtype, f"{z.dtype}, spec {spec.dtype}")
    )
    bad = int((~torch.isfinite(z)).sum())
    checks.append(CheckResult("finite", bad == 0, f"{bad} NaN/inf values in z of {n} items"))
    z2, err = _run(model, "encode", x)
    same = z2 is not None and z2.shape == z.shape and torch.equal(z2, z)
    detail = err or (
        "equal"
        if same
        else "two encodes of the same batch differ (random noise "
        "or dropout in encode?); make encode deterministic in eval mode"
    )
    checks.append(CheckResult("determinism", same, detail))
    figures["encode_items_per_s"] = n / max(seconds, 1e-9)
    if model.capabilities.decodes and checks[0].ok:
        x_hat, err = _run(model, "decode", z)
        fits = x_hat is not None and tuple(x_hat.shape) == tuple(x.shape)
        finite = fits and bool(torch.isfinite(x_hat).all())
        if finite:
            figures["roundtrip_mse"] = float((x_hat.float() - x.float()).square().mean())
        detail = err or (
            f"decode(encode(x)) has shape {tuple(x_hat.shape)}, x has {tuple(x.shape)}"
            if not fits
            else f"mse {figures['roundtrip_mse']:.4g}"
            if finite
            else "decode gave NaN/inf"
        )
        checks.append(CheckResult("round trip", finite, detail))
    return CheckReport(checks, figures)
