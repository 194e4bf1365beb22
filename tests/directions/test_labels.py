"""The safe label-expression parser: cases, canonical labels, and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentops.directions import parse_label
from latentops.errors import InvalidInputError, NotFoundError

COLUMNS = {
    "shape": np.array([0, 1, 2, 2, 1]),
    "scale": np.array([0.5, 0.7, 1.0, 0.9, -0.2]),
    "color": np.array(["red", "blue", "green", "red", "blue"]),
    "smiling": np.array([True, False, True, False, False]),
    "factor.pos_x": np.array([3, 1, 4, 1, 5]),
}


@pytest.mark.parametrize(
    ("expr", "expected", "label"),
    [
        ("shape==2", [0, 0, 1, 1, 0], "shape==2"),
        ("  shape != 2 ", [1, 1, 0, 0, 1], "shape!=2"),
        ("scale>0.7", [0, 0, 1, 1, 0], "scale>0.7"),
        ("scale>=0.7", [0, 1, 1, 1, 0], "scale>=0.7"),
        ("scale<0", [0, 0, 0, 0, 1], "scale<0"),
        ("scale <= -0.2", [0, 0, 0, 0, 1], "scale<=-0.2"),
        ("scale>1e-1", [1, 1, 1, 1, 0], "scale>0.1"),
        ("color=='red'", [1, 0, 0, 1, 0], "color=='red'"),
        ('color != "red"', [0, 1, 1, 0, 1], "color!='red'"),
        ("color==blue", [0, 1, 0, 0, 1], "color=='blue'"),
        ("color in ('red', green)", [1, 0, 1, 1, 0], "color in ('red', 'green')"),
        ("color in ('redder')", [0, 0, 0, 0, 0], "color in ('redder')"),
        ("shape in (0,1,)", [1, 1, 0, 0, 1], "shape in (0, 1)"),
        ("smiling==true", [1, 0, 1, 0, 0], "smiling==True"),
        ("smiling == 0", [0, 1, 0, 1, 1], "smiling==False"),
        ("factor.pos_x>2", [1, 0, 1, 0, 1], "factor.pos_x>2"),
    ],
)
def test_comparisons(expr: str, expected: list[int], label: str) -> None:
    y, spec = parse_label(expr, COLUMNS)
    assert y.dtype == bool
    np.testing.assert_array_equal(y, np.array(expected, dtype=bool))
    assert spec["label"] == label and spec["n_true"] == sum(expected)
    assert json.loads(json.dumps(spec)) == spec  # JSON-able as stored in the catalog


def test_raw_column_is_returned_as_is() -> None:
    y, spec = parse_label("scale", COLUMNS)
    np.testing.assert_array_equal(y, COLUMNS["scale"])
    assert spec == {"expr": "scale", "column": "scale", "n_rows": 5, "op": None, "label": "scale"}
    y[0] = 99.0  # a copy: the caller's column is untouched
    assert COLUMNS["scale"][0] == 0.5


def test_unknown_column_names_the_available_ones() -> None:
    with pytest.raises(NotFoundError, match=r"column 'size'.*available columns: \['color'"):
        parse_label("size>2", COLUMNS)


@pytest.mark.parametrize(
    ("expr", "match"),
    [
        ("shape=2", r"use == for equality"),
        ("shape==", "cannot parse"),
        ("==2", "cannot parse"),
        ("shape in 1,2", "cannot parse"),
        ("shape in ()", "cannot parse"),
        ("__import__('os').system('x')", "cannot parse"),
        ("shape==2 or 1", "cannot parse"),
        ("shape==2; scale>1", "cannot parse"),
        ("", "cannot parse"),
        ("shape=='two'", "is not a number"),
        ("shape==two", "is not a number"),
        ("color>'red'", "needs a numeric column"),
        ("smiling==yes", "is not true/false"),
    ],
)
def test_refusals(expr: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        parse_label(expr, COLUMNS)


def test_missing_values_refused_for_comparisons() -> None:
    cols = {"age": np.array([30.0, np.nan, 50.0]), "tag": np.array(["a", None], dtype=object)}
    with pytest.raises(InvalidInputError, match="1 missing \\(NaN\\) values"):
        parse_label("age>40", cols)
    with pytest.raises(InvalidInputError, match="missing \\(None\\) values"):
        parse_label("tag=='a'", cols)
    with pytest.raises(InvalidInputError, match="must be a string"):
        parse_label(3, cols)
