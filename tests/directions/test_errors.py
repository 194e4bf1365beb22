"""Every bad input raises a LatentOpsError subclass with a message naming the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentops.directions import (
    METHODS,
    applicable_methods,
    fit_direction,
    fit_directions,
    manual_direction,
    sefa_directions,
)
from latentops.errors import InvalidInputError, LatentOpsError

RNG = np.random.default_rng(0)
Z = RNG.standard_normal((200, 6)).astype(np.float32)
T = Z[:, 0] > 0
Y = Z[:, 1] * 2.0


@pytest.mark.parametrize("method", ["mean_diff", "logistic", "linear_svm"])
@pytest.mark.parametrize(
    ("y", "kwargs", "match"),
    [
        (np.ones(200, dtype=bool), {}, "single class \\(all positive"),
        (np.zeros(200, dtype=int), {}, "single class"),
        (np.array([]), {}, "labels y are empty"),
        (T[:150], {}, "150 entries but z has 200 rows"),
        (np.arange(200) % 3, {}, "3 distinct values .* pass positive="),
        (np.arange(200) % 3, {"positive": 7}, "positive=7 never occurs"),
        (np.where(np.arange(200) < 1, 1.0, 0.0), {}, "positive class has 1 example"),
        (np.full(200, np.nan), {}, "NaN/inf"),
        (T, {"positive": True, "top_percent": 5}, "not both"),
        (Y, {"top_percent": 80}, "percentage in \\(0, 50\\]"),
        (Y, {"top_percent": 0.5}, "do not separate cleanly"),
        (T, {"holdout": 1.0}, "holdout=1.0 must be a fraction in \\(0, 1\\)"),
        (T, {"holdout": 0.0}, "holdout=0.0"),
        (T, {"bogus": 1}, "unknown parameter\\(s\\) \\['bogus'\\]"),
    ],
)
def test_bad_labels_for_classifiers(method: str, y, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        fit_direction(Z, y, method, **kwargs)


@pytest.mark.parametrize(
    ("z", "match"),
    [
        (np.where(np.arange(6) == 2, np.nan, Z), "contains 200 NaN/inf"),
        (Z[0], "must be a 2-D \\(N, d\\) array"),
        (Z.astype(np.int64), "must be floating point"),
        (torch.ones(200, 6, dtype=torch.int32), "must be floating point"),
        ([[0.0] * 6] * 200, "numpy array or torch tensor"),
        (np.ones((200, 0), dtype=np.float32), "d >= 1"),
    ],
)
def test_bad_latents(z, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        fit_direction(z, T, "mean_diff")


def test_degenerate_fits_refused() -> None:
    # every row is the same latent, so the class means are equal: a zero difference vector
    z = np.tile(np.array([1.0, -2.0, 3.0], np.float32), (100, 1))
    with pytest.raises(InvalidInputError, match="mean_diff' produced a zero vector"):
        fit_direction(z, np.arange(100) < 50, "mean_diff")
    with pytest.raises(InvalidInputError, match="labels y are constant"):
        fit_direction(Z, np.full(200, 3.0), "ridge")
    with pytest.raises(InvalidInputError, match="needs numeric labels"):
        fit_direction(Z, np.array(["a", "b"] * 100), "ridge")
    with pytest.raises(InvalidInputError, match="all identical"):
        fit_direction(np.ones((50, 3), np.float32), method="pca")
    with pytest.raises(InvalidInputError, match="span fewer than n_components=3"):
        fit_directions(np.c_[Z[:, :2], Z[:, :1]], method="pca", n_components=3)


def test_dimension_mismatches_refused() -> None:
    with pytest.raises(InvalidInputError, match="weight has d=5 input columns but z has d=6"):
        fit_directions(Z, method="sefa", weight=np.ones((8, 5)) + np.eye(8, 5), n_components=2)
    with pytest.raises(InvalidInputError, match="shape \\(4,\\) but d=6 was expected"):
        fit_direction(Z, T, "manual", vector=np.ones(4))
    with pytest.raises(InvalidInputError, match="axis=6 must be an int in \\[0, 5\\]"):
        fit_direction(Z, method="manual", axis=6)


def test_method_and_parameter_refusals() -> None:
    with pytest.raises(InvalidInputError, match="unknown direction method 'svm'.*linear_svm"):
        fit_direction(Z, T, "svm")
    with pytest.raises(InvalidInputError, match="needs labels y"):
        fit_direction(Z, None, "logistic")
    with pytest.raises(InvalidInputError, match="pca is unsupervised"):
        fit_direction(Z, T, "pca")
    with pytest.raises(InvalidInputError, match="needs parameter\\(s\\) \\['weight'\\]"):
        fit_directions(None, method="sefa", n_components=2)
    with pytest.raises(InvalidInputError, match="n_components=7 must be an int between 1 and d=6"):
        fit_directions(Z, method="pca", n_components=7)
    with pytest.raises(InvalidInputError, match="n_components must be 1"):
        fit_directions(Z, T, "logistic", n_components=2)
    with pytest.raises(InvalidInputError, match="component= picks one direction"):
        fit_directions(Z, method="pca", component=1)
    with pytest.raises(InvalidInputError, match="C=0 must be a positive number"):
        fit_direction(Z, T, "logistic", C=0)
    with pytest.raises(InvalidInputError, match="class_weight='auto'"):
        fit_direction(Z, T, "linear_svm", class_weight="auto")
    with pytest.raises(InvalidInputError, match="max_train=1 must be None or an int >= 2"):
        fit_direction(Z, T, "logistic", max_train=1)
    with pytest.raises(InvalidInputError, match="alpha=-1 must be a number >= 0"):
        fit_direction(Z, Y, "ridge", alpha=-1)


def test_manual_and_sefa_refusals() -> None:
    with pytest.raises(InvalidInputError, match="exactly one of vector"):
        manual_direction()
    with pytest.raises(InvalidInputError, match="exactly one of vector"):
        manual_direction(np.ones(3), axis=0, d=3)
    with pytest.raises(InvalidInputError, match="needs d="):
        manual_direction(axis=1)
    with pytest.raises(InvalidInputError, match="norm 0"):
        manual_direction(np.zeros(3))
    with pytest.raises(InvalidInputError, match="2-D \\(out, d\\) matrix"):
        sefa_directions(np.ones(5), 1)
    with pytest.raises(InvalidInputError, match="all-zero weights"):
        sefa_directions(np.zeros((4, 3)), 1)
    with pytest.raises(InvalidInputError, match="rank below k=2"):
        sefa_directions(np.ones((4, 3)), 2)
    with pytest.raises(InvalidInputError, match="must be finite"):
        sefa_directions(np.full((4, 3), np.nan), 1)


def test_applicable_methods() -> None:
    assert applicable_methods(T) == ["mean_diff", "logistic", "linear_svm"]
    assert applicable_methods(np.array(["cat", "dog"] * 5)) == [
        "mean_diff",
        "logistic",
        "linear_svm",
    ]
    assert applicable_methods(Y) == ["ridge"]
    assert applicable_methods(np.arange(10) % 4) == ["ridge"]  # ordinal ints: e.g. dSprites scale
    assert applicable_methods(np.arange(10) % 4, positive=2)[0] == "mean_diff"
    for name in applicable_methods(T) + applicable_methods(Y):
        assert METHODS[name].needs_labels
    with pytest.raises(InvalidInputError, match="single value"):
        applicable_methods(np.ones(10))
    with pytest.raises(InvalidInputError, match="3 categories"):
        applicable_methods(np.array(["a", "b", "c"]))
    with pytest.raises(InvalidInputError, match="empty"):
        applicable_methods([])


def test_all_errors_are_latentops_errors() -> None:
    assert issubclass(InvalidInputError, LatentOpsError) and issubclass(
        InvalidInputError, ValueError
    )
