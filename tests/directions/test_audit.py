"""The fit-time audit: similar directions, near-duplicate flags and label bias (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from latentops.directions import Direction, manual_direction
from latentops.directions.audit import (
    BIAS_WARN,
    audit_flags,
    label_bias,
    similar_directions,
)


def test_similar_directions_ranks_by_absolute_cosine_and_flags_near_duplicates():
    v = manual_direction([1.0, 0.0, 0.0])
    others = {
        "flip@1": manual_direction([-1.0, 0.05, 0.0]),  # |cos| ~ 0.999, opposite sign
        "half@1": manual_direction([1.0, 1.0, 0.0]),  # cos 0.707
        "ortho@1": manual_direction([0.0, 0.0, 1.0]),
        "wrong_d@1": manual_direction([1.0, 0.0]),  # another space: ignored
    }
    similar = similar_directions(v, others, k=2)
    assert [s["ref"] for s in similar] == ["flip@1", "half@1"]
    assert similar[0]["cos"] == pytest.approx(-1 / np.sqrt(1.0025), abs=1e-4)
    flags = audit_flags({"similar": similar})
    assert flags == ["near-duplicate of flip@1 (cos -1.00)"]


def test_label_bias_finds_a_planted_correlation_and_skips_the_labels_own_column():
    rng = np.random.default_rng(0)
    n = 4000
    shape = rng.integers(0, 3, n)
    # the positives are mostly large: a "heart" label biased by scale
    scale = np.where(shape == 2, rng.integers(3, 6, n), rng.integers(0, 6, n))
    pos_x = rng.uniform(0, 1, n)  # many values: |Pearson|, independent of the label
    y = shape == 2
    bias = label_bias(y, {"shape": shape, "scale": scale, "pos_x": pos_x}, exclude="shape")
    assert set(bias) == {"scale", "pos_x"}
    assert bias["scale"] > BIAS_WARN > bias["pos_x"]
    assert bias["pos_x"] < 0.05
    flags = audit_flags({"label_bias": bias})
    assert flags == [f"labels correlate with scale ({bias['scale']:.2f})"]


def test_audit_round_trips_on_the_card_and_must_be_json():
    d = Direction(vector=[0.0, 1.0], method="manual", audit={"similar": [{"ref": "a@1", "cos": 1}]})
    back = Direction.from_card(d.to_card(), d.vector)
    assert back.audit == {"similar": [{"ref": "a@1", "cos": 1}]}
    with pytest.raises(Exception, match="audit must be JSON-serialisable"):
        Direction(vector=[1.0], method="manual", audit={"x": np.zeros(2)})
