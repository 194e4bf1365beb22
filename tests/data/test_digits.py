"""sklearn digits as a Dataset: real content, labels, upsampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from latentops.data import Digits, get_dataset
from latentops.errors import InvalidInputError

REF = load_digits()


def test_digits_content_matches_sklearn():
    ds = Digits()
    assert ds.n_items == 1797 and ds.x_shape == (1, 8, 8)
    assert ds.factor_names == ("digit",) and ds.factor_sizes == {"digit": 10}
    x = torch.cat([b.x for b in ds.batches(500)])
    assert x.shape == (1797, 1, 8, 8)
    assert np.allclose(x[:, 0].numpy(), REF.images / 16.0)
    assert x.min() == 0 and x.max() == 1
    labels = ds.factors(ds.item_ids())["digit"]
    assert np.array_equal(labels, REF.target)
    assert np.array_equal(np.bincount(labels), np.bincount(REF.target))


def test_upsampling_keeps_range_and_mean_intensity():
    ids = np.arange(0, 1797, 7)
    small = next(Digits().batches(300, ids)).x
    big = next(Digits(upsample=2).batches(300, ids)).x
    assert big.shape == (len(ids), 1, 16, 16)
    assert big.min() >= 0 and big.max() <= 1
    # bilinear with half-pixel centres keeps each image's mean close to the original's
    assert torch.allclose(big.mean((1, 2, 3)), small.mean((1, 2, 3)), atol=0.02)
    # bilinear x2 with half-pixel centres samples at x[i] -/+ 1/4, so averaging each 2x2 block
    # gives the original blurred by the separable kernel [1/8, 3/4, 1/8] (edges replicated)
    k = torch.tensor([0.125, 0.75, 0.125])
    blurred = F.conv2d(F.pad(small, (1, 1, 1, 1), mode="replicate"), torch.outer(k, k)[None, None])
    assert torch.allclose(F.avg_pool2d(big, 2), blurred, atol=1e-6)


def test_digits_fingerprint_depends_on_upsampling():
    assert Digits().fingerprint == Digits().fingerprint
    assert Digits().fingerprint != Digits(upsample=2).fingerprint


def test_registry_builds_digits():
    assert get_dataset("digits", upsample=4).x_shape == (1, 32, 32)


@pytest.mark.parametrize("bad", [0, 2.0, True, 17])
def test_bad_upsample_raises(bad):
    with pytest.raises(InvalidInputError, match="upsample=.* must be an integer in"):
        Digits(upsample=bad)
