"""A direction's verdict from its scorecard summary: works, weak, entangled or no effect (pure).

One badge a reader can scan a report by, read from the stored scores of one run:
- no effect: the judged response does not follow the strength (|Spearman| < 0.5);
- weak: the label is encoded but the edit barely moves it (semantics.weak), or the response
  is far from a line (linearity.r2 < 0.5);
- entangled: some other attribute shifts systematically by more than half the target's
  change (max leak.<attr> > 0.5 x |target.delta| at the extreme strengths);
- works: none of the above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

VERDICTS = ("works", "weak", "entangled", "no effect")
NO_EFFECT_SPEARMAN = 0.5
WEAK_LINEARITY = 0.5
ENTANGLED_SHARE = 0.5


def verdict(rows: Sequence[Mapping[str, Any]]) -> str:
    """The verdict of one direction's scorecard rows ({metric, strength, value})."""
    summary = {r["metric"]: r["value"] for r in rows if r["strength"] is None}
    delta = {r["strength"]: r["value"] for r in rows if r["metric"] == "target.delta"}
    leaks = [r["value"] for r in rows if r["metric"].startswith("leak.")]
    if abs(summary.get("strength.spearman", 0.0)) < NO_EFFECT_SPEARMAN:
        return "no effect"
    if summary.get("semantics.weak") == 1.0 or summary.get("linearity.r2", 1.0) < WEAK_LINEARITY:
        return "weak"
    effect = abs(delta[max(delta)] - delta[min(delta)]) if delta else 0.0
    if leaks and max(leaks) > ENTANGLED_SHARE * effect:
        return "entangled"
    return "works"
