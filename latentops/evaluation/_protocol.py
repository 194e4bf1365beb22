"""How a metric result carries its protocol, and how to split it into scores and settings.

Every metric returns one flat dict with namespaced keys, e.g.
``{"mig": 0.42, "mig.n_bins": 20, "mig.estimator": "histogram-discretized", ...}``.
The convention that makes it machine-readable: **score values are floats; protocol values
(estimator, bins, seed, sample sizes, flags) are str, int or bool.** So a result can be
stored as score rows, each with the same protocol attached, without a list of key names.
A float-valued setting (e.g. FactorVAE's prune threshold) is therefore recorded as its str.
"""

from __future__ import annotations

from collections.abc import Mapping

from latentops.errors import InvalidInputError

ProtocolValue = str | int | bool
Result = dict[str, float | ProtocolValue]


def split_scores(result: Mapping[str, object]) -> tuple[dict[str, float], dict[str, ProtocolValue]]:
    """Split a metric result into (scores: float values, protocol: str/int/bool values)."""
    scores: dict[str, float] = {}
    protocol: dict[str, ProtocolValue] = {}
    for key, value in result.items():
        if isinstance(value, float):
            scores[key] = value
        elif isinstance(value, str | int | bool):
            protocol[key] = value
        else:
            raise InvalidInputError(
                f"result key {key!r} has a {type(value).__name__} value {value!r}; metric "
                "results hold only float scores and str/int/bool protocol entries"
            )
    return scores, protocol
