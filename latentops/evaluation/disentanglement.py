"""Disentanglement metrics of latents vs factors by name: MIG, SAP, DCI, BetaVAE, FactorVAE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from latentops.errors import InvalidInputError
from latentops.evaluation._beta_vae import beta_vae_score
from latentops.evaluation._dci import dci
from latentops.evaluation._factor_vae import factor_vae_score
from latentops.evaluation._mig import mig
from latentops.evaluation._protocol import split_scores
from latentops.evaluation._sap import sap

METRICS = {
    "mig": mig,
    "sap": sap,
    "dci": dci,
    "beta_vae": beta_vae_score,
    "factor_vae": factor_vae_score,
}
_NAMED = ("mig", "sap")  # metrics that take factor_names for per-factor scores


def check_metrics(metrics: Sequence[str]) -> list[str]:
    """``metrics`` if every name is a known disentanglement metric, else InvalidInputError."""
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not metrics:
        raise InvalidInputError(
            f"metrics {unknown or list(metrics)} unknown; choose from {sorted(METRICS)}"
        )
    return list(metrics)


def disentanglement(
    z: np.ndarray,
    y: np.ndarray,
    factor_names: list[str],
    metrics: Sequence[str],
    *,
    fast: bool = True,
    seed: int = 0,
) -> list[tuple[str, dict[str, float], dict[str, Any]]]:
    """Per metric of z (N, d) vs factors y (N, K): (estimator, scores, protocol settings)."""
    out = []
    for name in check_metrics(metrics):
        kwargs: dict[str, Any] = {"fast": fast, "seed": seed}
        if name in _NAMED:
            kwargs["factor_names"] = factor_names
        values, proto = split_scores(METRICS[name](z, y, **kwargs))
        out.append((str(proto.get(f"{name}.estimator", name)), values, proto))
    return out
