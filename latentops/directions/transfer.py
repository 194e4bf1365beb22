"""Carry a fitted direction into another latent space and score it beside a fresh fit there."""

from __future__ import annotations

from typing import Any

import numpy as np

from latentops.directions.align import Alignment
from latentops.directions.direction import Direction
from latentops.directions.fit import fit_direction
from latentops.errors import InvalidInputError

# The held-out number a carried direction and a refit are compared on, by direction kind.
HEADLINE = {"classification": "auc", "regression": "r2"}
_FIT_OUTPUTS = ("target", "transfer", "carry")  # recorded outputs of a fit, not inputs


def refit_params(direction: Direction) -> dict[str, Any]:
    """The parameters to fit ``direction``'s method again (recorded outputs left out)."""
    return {k: v for k, v in direction.params.items() if k not in _FIT_OUTPUTS}


def check_transferable(direction: Direction, ref: str) -> str:
    """The headline metric of ``direction``, or an error if it has no label to be scored by."""
    if direction.kind not in HEADLINE or direction.label is None:
        raise InvalidInputError(
            f"direction {ref} ({direction.kind}) has no label to score it by on the target "
            "table; only supervised directions (classification, regression) can be transferred"
        )
    return HEADLINE[direction.kind]


def carry_direction(
    direction: Direction,
    alignment: Alignment,
    z: np.ndarray,
    y: np.ndarray,
    transfer: dict[str, Any],
) -> tuple[Direction, Direction]:
    """(carried, refit): ``direction`` mapped by ``alignment`` and a fresh fit, on z (N, d2), y.

    Both are scored on the same held-out rows of the target (the direction's own holdout and
    seed), so ``carried.metrics["auc"]`` (or ``r2``) and ``carried.metrics["refit_auc"]`` compare
    like with like. ``transfer`` (source ref, alignment ref and error) is kept in the params.
    """
    key = check_transferable(direction, "the direction")
    params = refit_params(direction)
    holdout, seed = params.get("holdout", 0.2), params.get("seed", 0)
    refit = fit_direction(z, y, direction.method, label=direction.label, **params)
    v = alignment.carry(direction.vector)  # (d2,)
    positive = (direction.params.get("target") or {}).get("positive")
    measured = fit_direction(
        z,
        y,
        "manual",
        vector=v,
        positive=positive if direction.kind == "classification" else None,
        holdout=holdout,
        seed=seed,
        label=direction.label,
    )
    v = measured.sign * measured.vector  # +vector means more of the label, as for fitted ones
    spread = float(np.std(np.asarray(z, np.float64) @ v))  # strengths in std units on the target
    metrics = {
        **measured.metrics,
        **{f"refit_{k}": refit.metrics[k] for k in (key, "accuracy") if k in refit.metrics},
        "alignment_heldout_rel_error": float(alignment.metrics["heldout_rel_error"]),
    }
    carried = Direction(
        vector=v,
        method=direction.method,
        params={**params, "target": refit.params.get("target"), "transfer": transfer},
        metrics=metrics,
        label=direction.label,
        kind=direction.kind,
        form=direction.form,
        std=spread if spread > 0 else None,
    )
    return carried, refit
