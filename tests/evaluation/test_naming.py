"""Suggested names from a judged traversal (pure): what moves, what does not."""

from __future__ import annotations

import re

import numpy as np
import pytest

from latentops.errors import InvalidInputError
from latentops.evaluation.naming import traversal_names


def test_the_attribute_that_moves_monotonically_names_the_direction():
    rng = np.random.default_rng(0)
    grid = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    n = 200
    base_x = rng.uniform(5, 25, n)
    pred = {
        "pos_x": base_x[None] + 3.0 * grid[:, None] + rng.normal(0, 0.5, (5, n)),  # moves
        "scale": 2.5 + 0.1 * grid[:, None] + rng.normal(0, 0.3, (5, n)),  # moves a little
        "shape": 1.0 + rng.normal(0, 0.05, (5, n)),  # still
    }
    names = traversal_names(grid, pred, {"pos_x": 32, "scale": 6, "shape": 3})
    assert names["label"] == "pos_x" and names["moves"] == ["pos_x"]
    px = names["attributes"]["pos_x"]
    assert px["slope"] == pytest.approx(3.0, abs=0.1) and px["spearman"] == 1.0
    assert px["range_share"] == pytest.approx(12 / 31, abs=0.02)
    # strength explains part of pos_x's spread (the items differ too) and none of shape's
    assert 0.3 < px["variance_share"] < 0.9
    assert names["attributes"]["shape"]["variance_share"] < 0.05
    assert names["unchanged"] == ["shape"]  # scale moves 0.4 of 5 classes: neither list
    assert re.match(
        r"mostly pos_x \(slope \+3\.0\d/unit, Spearman \+1\.00, 39% of its range\)",
        names["evidence"],
    )
    assert names["evidence"].endswith("shape unchanged")


def test_nothing_monotone_gives_no_label_and_a_short_grid_is_refused():
    grid = np.array([-1.0, 0.0, 1.0])
    pred = {"shape": np.array([[1.0, 2.0], [0.0, 0.0], [1.0, 2.0]])}  # up and down
    names = traversal_names(grid, pred, {"shape": 3})
    assert names["label"] is None and "no judged attribute moves" in names["evidence"]
    with pytest.raises(InvalidInputError, match=">= 3 strengths"):
        traversal_names(np.array([0.0, 1.0]), {"shape": np.zeros((2, 2))}, {"shape": 3})
