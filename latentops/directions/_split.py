"""Private train / held-out splits (stratified for classes) and training-set caps."""

from __future__ import annotations

import numpy as np

from latentops.errors import InvalidInputError


def check_holdout(holdout: float, *, allow_zero: bool) -> float:
    """Validate the held-out fraction: in (0, 1), or [0, 1) where ``allow_zero``."""
    low_ok = holdout >= 0 if allow_zero else holdout > 0
    if isinstance(holdout, bool) or not (low_ok and holdout < 1):
        span = "[0, 1)" if allow_zero else "(0, 1)"
        raise InvalidInputError(
            f"holdout={holdout!r} must be a fraction in {span}; metrics are measured on that "
            "share of the rows and the direction is fitted on the rest (0.2 is typical)"
        )
    return float(holdout)


def holdout_mask(n: int, holdout: float, rng: np.random.Generator) -> np.ndarray:
    """A (n,) bool mask marking a random ``holdout`` share of rows (at least one each side)."""
    n_hold = int(round(holdout * n))
    if holdout > 0:
        n_hold = min(max(n_hold, 1), n - 1)
    if holdout > 0 and n < 2:
        raise InvalidInputError(
            f"only {n} row(s); need at least 2 to fit on one part and measure on another"
        )
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:n_hold]] = True
    return mask


def stratified_holdout_mask(t: np.ndarray, holdout: float, rng: np.random.Generator) -> np.ndarray:
    """Held-out mask with the same positive/negative mix as ``t`` (every class on both sides)."""
    mask = np.zeros(t.shape[0], dtype=bool)
    for cls_name, members in (("positive", np.flatnonzero(t)), ("negative", np.flatnonzero(~t))):
        if members.shape[0] < 2:
            raise InvalidInputError(
                f"the {cls_name} class has {members.shape[0]} example(s) but at least 2 are "
                "needed (one to fit, one to measure); label more rows or loosen the label"
            )
        n_hold = min(max(int(round(holdout * members.shape[0])), 1), members.shape[0] - 1)
        mask[rng.permutation(members)[:n_hold]] = True
    return mask


def cap_rows(
    rows: np.ndarray, max_train: int | None, rng: np.random.Generator, t: np.ndarray | None = None
) -> np.ndarray:
    """At most ``max_train`` of ``rows`` (sorted), keeping each class's share if ``t`` is given."""
    if max_train is None or rows.shape[0] <= max_train:
        return rows
    if t is None:
        return np.sort(rng.choice(rows, size=max_train, replace=False))
    picked = []
    pos, neg = rows[t[rows]], rows[~t[rows]]
    n_pos = min(max(int(round(max_train * pos.shape[0] / rows.shape[0])), 1), pos.shape[0])
    for members, k in ((pos, n_pos), (neg, max_train - n_pos)):
        picked.append(rng.choice(members, size=min(max(k, 1), members.shape[0]), replace=False))
    return np.sort(np.concatenate(picked))
