"""The method registry: every fitting method, its kind and its parameters with defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from latentops.directions._data import as_label_array
from latentops.directions._targets import label_kind
from latentops.errors import InvalidInputError

REQUIRED = object()  # default marker of a parameter without a default

_BINARY_PARAMS = {"positive": None, "top_percent": None, "bottom_percent": None}
_LINEAR_PARAMS = {
    **_BINARY_PARAMS,
    "C": 1.0,
    "class_weight": None,
    "max_iter": 1000,
    # the normal of a 64-d boundary is pinned down long before 250k rows; capping keeps a
    # 1M-row fit to about a second (sampled per class, so the class mix is kept)
    "max_train": 250_000,
    # edit along the pattern Cov(z) w (where the attribute varies in the data) or along the
    # fitted normal w itself (the filter: the best linear readout, kept in params for probing)
    "form": "pattern",
}


@dataclass(frozen=True)
class MethodInfo:
    """What a fitting method needs and yields."""

    name: str
    kind: str  # classification | regression | unsupervised | manual
    needs_labels: bool
    multi: bool  # yields several ranked components (fit_directions)
    defaults: Mapping[str, Any]
    summary: str

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``defaults`` overridden by ``params``; unknown or missing-required names raise."""
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise InvalidInputError(
                f"unknown parameter(s) {unknown} for method {self.name!r}; "
                f"accepted: {sorted(self.defaults) or 'none'}"
            )
        out = {**self.defaults, **params}
        missing = sorted(k for k, v in out.items() if v is REQUIRED)
        if missing:
            raise InvalidInputError(f"method {self.name!r} needs parameter(s) {missing}")
        return out


METHODS: Mapping[str, MethodInfo] = MappingProxyType(
    {
        "mean_diff": MethodInfo(
            "mean_diff",
            "classification",
            True,
            False,
            MappingProxyType(dict(_BINARY_PARAMS)),
            "difference of class means (binary labels or one class vs rest)",
        ),
        "logistic": MethodInfo(
            "logistic",
            "classification",
            True,
            False,
            MappingProxyType(dict(_LINEAR_PARAMS)),
            "normal of an L2 logistic regression (scikit-learn)",
        ),
        "linear_svm": MethodInfo(
            "linear_svm",
            "classification",
            True,
            False,
            MappingProxyType(dict(_LINEAR_PARAMS)),
            "InterFaceGAN: linear SVM normal; top/bottom percent of a score, class balancing",
        ),
        "ridge": MethodInfo(
            "ridge",
            "regression",
            True,
            False,
            MappingProxyType({"alpha": 1.0, "form": "pattern"}),
            "ridge regression coefficients for a continuous attribute",
        ),
        "pca": MethodInfo(
            "pca",
            "unsupervised",
            False,
            True,
            MappingProxyType({"component": 0}),
            "principal directions of the latent table, largest variance first",
        ),
        "sefa": MethodInfo(
            "sefa",
            "unsupervised",
            False,
            True,
            MappingProxyType({"weight": REQUIRED, "normalize": True, "component": 0}),
            "closed-form factorisation of the first decoder layer's weight (no data)",
        ),
        "manual": MethodInfo(
            "manual",
            "manual",
            False,
            False,
            MappingProxyType({"vector": None, "axis": None, "positive": None}),
            "a user vector or coordinate axis (measured against labels when given)",
        ),
    }
)


def method_info(method: str) -> MethodInfo:
    """The registry entry of ``method`` or an error listing the known ones."""
    if method not in METHODS:
        raise InvalidInputError(
            f"unknown direction method {method!r}; choose one of {sorted(METHODS)}"
        )
    return METHODS[method]


def applicable_methods(y: np.ndarray | torch.Tensor | list, *, positive: Any = None) -> list[str]:
    """Supervised methods whose defaults fit labels ``y``: classifiers for 2 classes, else ridge."""
    y = np.asarray(y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y)
    y = as_label_array(y, y.shape[0] if y.ndim else 0)
    classifiers = [n for n, m in METHODS.items() if m.kind == "classification"]
    if positive is not None:
        return classifiers
    kind = label_kind(y)
    if kind == "binary":
        return classifiers
    if kind == "numeric":
        return [n for n, m in METHODS.items() if m.kind == "regression"]
    raise InvalidInputError(
        f"labels y are {np.unique(y).shape[0]} categories of dtype {y.dtype}; pick one with "
        "positive=<value> (or a label expression like \"col=='x'\") for a classifier"
    )
