"""A direction's verdict badge from its scorecard rows (pure)."""

from __future__ import annotations

import pytest

from latentops.evaluation.verdict import verdict


def _rows(spearman, delta, leak, weak=0.0, r2=0.95):
    out = [
        {"metric": "strength.spearman", "strength": None, "value": spearman},
        {"metric": "semantics.weak", "strength": None, "value": weak},
        {"metric": "linearity.r2", "strength": None, "value": r2},
    ]
    for s, d in zip((-2.0, 0.0, 2.0), delta, strict=True):
        out.append({"metric": "target.delta", "strength": s, "value": d})
        out.append({"metric": "leak.shape", "strength": s, "value": leak})
    return out


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (_rows(1.0, (-4.0, 0.0, 4.0), 0.5), "works"),
        (_rows(1.0, (-4.0, 0.0, 4.0), 5.0), "entangled"),  # a leak above half the change (8)
        (_rows(0.2, (0.1, 0.0, 0.05), 0.0), "no effect"),
        (_rows(1.0, (-0.1, 0.0, 0.1), 0.0, weak=1.0), "weak"),
        (_rows(0.9, (-4.0, 0.0, 4.0), 0.0, r2=0.3), "weak"),
    ],
)
def test_verdict_reads_effect_monotonicity_and_leaks(rows, expected):
    assert verdict(rows) == expected
