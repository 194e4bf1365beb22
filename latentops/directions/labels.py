"""A tiny, safe label-expression language: which rows are positive, parsed without eval.

Grammar (whitespace is free): ``col`` (the raw values), ``col OP value`` with OP one of
``== != > >= < <=``, or ``col in (v1, v2, ...)``. A value is a number, a quoted string
('x' or "x"), true/false, or a bare word (read as a string). Comparisons give a bool array.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from latentops.directions._data import py_scalar
from latentops.errors import InvalidInputError, NotFoundError

_COLUMN = r"[A-Za-z_][A-Za-z0-9_.]*"
_VALUE = r"""'[^']*'|"[^"]*"|[^\s,()'"]+"""
_EXPR = re.compile(
    rf"""^\s*(?P<col>{_COLUMN})\s*(?:
        (?P<op>==|!=|>=|<=|>|<)\s*(?P<val>{_VALUE})
      | \s(?:in|IN)\s*\(\s*(?P<list>(?:{_VALUE})(?:\s*,\s*(?:{_VALUE}))*)\s*,?\s*\)
    )?\s*$""",
    re.VERBOSE,
)
_LIST_ITEM = re.compile(_VALUE)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ORDERING = (">", ">=", "<", "<=")
_OPS = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
}


def _syntax_error(expr: str) -> InvalidInputError:
    hint = " (use == for equality)" if re.search(r"(?<![=!<>])=(?!=)", expr) else ""
    return InvalidInputError(
        f"cannot parse label expression {expr!r}{hint}; write 'col', 'col==v', 'col!=v', "
        "'col>v', 'col>=v', 'col<v', 'col<=v' or 'col in (a, b)' (strings may be quoted)"
    )


def _coerce(token: str, column: str, values: np.ndarray) -> Any:
    """The Python value a token means for this column's dtype (never evaluated as code)."""
    quoted = token[:1] in "'\"" and len(token) >= 2
    text = token[1:-1] if quoted else token
    kind = values.dtype.kind
    if kind == "b":
        if quoted or text.lower() not in ("true", "false", "1", "0"):
            raise InvalidInputError(
                f"column {column!r} is boolean but {token!r} is not true/false; "
                f"write {column}==true"
            )
        return text.lower() in ("true", "1")
    if kind in "iuf":
        if quoted or not _NUMBER.match(text):
            raise InvalidInputError(
                f"column {column!r} is numeric ({values.dtype}) but {token!r} is not a number; "
                "compare it with a number such as 2 or 0.5"
            )
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)  # keep "2" as 2 so the canonical label reads as written
        number = float(text)
        return int(number) if kind in "iu" and number.is_integer() else number
    return text


def parse_label(expr: str, columns: Mapping[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Labels from an expression over named columns: (y (N,), JSON-able spec of the derivation)."""
    if not isinstance(expr, str):
        raise InvalidInputError(f"label expression must be a string, got {type(expr).__name__}")
    match = _EXPR.match(expr)
    if match is None:
        raise _syntax_error(expr)
    col = match["col"]
    if col not in columns:
        raise NotFoundError(
            f"label expression {expr!r} names column {col!r}, which does not exist; "
            f"available columns: {sorted(columns)}"
        )
    values = np.asarray(columns[col])
    if values.ndim != 1:
        raise InvalidInputError(
            f"column {col!r} has shape {values.shape}; label columns must be 1-D"
        )
    spec: dict[str, Any] = {"expr": expr.strip(), "column": col, "n_rows": int(values.shape[0])}
    if match["op"] is None and match["list"] is None:
        return values.copy(), {**spec, "op": None, "label": col}
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise InvalidInputError(
            f"column {col!r} has {int(np.isnan(values).sum())} missing (NaN) values, which "
            f"{expr.strip()!r} would silently count as negative; filter those rows first"
        )
    if values.dtype == object and any(v is None for v in values):
        raise InvalidInputError(
            f"column {col!r} has missing (None) values, which {expr.strip()!r} would silently "
            "count as negative; filter those rows first"
        )
    if match["list"] is not None:
        items = [_coerce(tok, col, values) for tok in _LIST_ITEM.findall(match["list"])]
        y = np.zeros(values.shape[0], dtype=bool)
        for item in items:  # not np.isin: casting items to a short '<U3' column would truncate
            y |= np.asarray(values == item, dtype=bool)
        label = f"{col} in ({', '.join(repr(v) for v in items)})"
        spec.update(op="in", value=items)
    else:
        op, value = match["op"], _coerce(match["val"], col, values)
        if op in _ORDERING and values.dtype.kind not in "iuf":
            raise InvalidInputError(
                f"{op!r} needs a numeric column but {col!r} has dtype {values.dtype}; "
                "use == / != / in (...) for categories"
            )
        y = np.asarray(_OPS[op](values, value), dtype=bool)
        label = f"{col}{op}{value!r}"
        spec.update(op=op, value=value)
    spec.update(label=label, n_true=int(y.sum()))
    return y, {k: py_scalar(v) for k, v in spec.items()}
