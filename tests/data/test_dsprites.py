"""Procedural dSprites: id <-> factor mapping, determinism, and what each factor does."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latentops.data import DSprites, get_dataset
from latentops.data.dsprites import FACTOR_NAMES, GRID_SHAPE, N_GRID
from latentops.errors import InvalidInputError, NotFoundError

DS64 = DSprites(64)
DS32 = DSprites(32)


def _ids(shape=0, scale=5, orientation=0, pos_x=16, pos_y=16) -> np.ndarray:
    """Flat ids for factor indices; any argument may be an array to sweep it."""
    grids = np.broadcast_arrays(shape, scale, orientation, pos_x, pos_y)
    return np.ravel_multi_index(grids, GRID_SHAPE).astype(np.int64).reshape(-1)


def _render(ds: DSprites, ids: np.ndarray) -> torch.Tensor:
    return torch.cat([b.x for b in ds.batches(64, ids)])[:, 0].double()  # (N, S, S)


def _centroid(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Coverage-weighted centroid in pixel units (pixel j covers [j, j+1))."""
    size = img.shape[-1]
    u = torch.arange(size, dtype=torch.float64) + 0.5
    mass = img.sum((-1, -2))
    return (img.sum(-2) * u).sum(-1) / mass, (img.sum(-1) * u).sum(-1) / mass


def test_full_grid_is_the_product_of_factor_sizes():
    assert N_GRID == 3 * 6 * 40 * 32 * 32 == 737_280
    assert DS64.n_items == N_GRID
    assert np.array_equal(DS64.item_ids(), np.arange(N_GRID))
    assert DS64.factor_names == FACTOR_NAMES == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert DS64.factor_sizes == dict(zip(FACTOR_NAMES, GRID_SHAPE, strict=True))
    assert DS64.x_shape == (1, 64, 64) and DS32.x_shape == (1, 32, 32)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, N_GRID - 1), min_size=1, max_size=20))
def test_item_id_is_the_c_order_index_of_its_factors(ids):
    ids = np.array(ids, dtype=np.int64)
    f = DS64.factors(ids)
    assert all(f[k].dtype == np.int64 for k in FACTOR_NAMES)
    back = np.ravel_multi_index(tuple(f[k] for k in FACTOR_NAMES), GRID_SHAPE)
    assert np.array_equal(back, ids)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(0, N_GRID - 1), min_size=2, max_size=12, unique=True), st.randoms())
def test_pixels_depend_only_on_the_item_not_on_its_batch(ids, rnd):
    ids = np.array(ids, dtype=np.int64)
    alone = torch.cat([DS32._load(ids[i : i + 1]) for i in range(len(ids))])
    perm = np.array(rnd.sample(range(len(ids)), len(ids)))
    together = next(DS32.batches(len(ids), ids[perm])).x
    assert torch.equal(together, alone[perm])
    again = DSprites(32).batches(len(ids), ids[perm])
    assert torch.equal(next(again).x, together)


def test_pixels_are_coverages_in_unit_interval():
    x = _render(DS64, _ids(shape=[0, 1, 2], orientation=[0, 7, 13]))
    assert x.min() >= 0 and x.max() <= 1
    assert (x == 1).any() and (x == 0).any()  # solid interior, empty background
    edge = (x > 0) & (x < 1)
    assert edge.any()  # anti-aliased boundary


@pytest.mark.parametrize("shape", [0, 1, 2])
@pytest.mark.parametrize("ds", [DS64, DS32], ids=["64px", "32px"])
def test_pos_x_moves_the_centroid_right_monotonically(ds, shape):
    img = _render(ds, _ids(shape=shape, orientation=3, pos_x=np.arange(32), pos_y=9))
    cx, cy = _centroid(img)
    assert (torch.diff(cx) > 0).all()
    # pos_x leaves the vertical position alone (up to anti-aliasing error, << 1 pixel)
    assert torch.allclose(cy, cy[0], atol=0.05)
    # steps are even: centres are evenly spaced and the shape is only translated
    assert torch.allclose(torch.diff(cx), torch.diff(cx).mean(), atol=0.05)


def test_pos_y_moves_the_centroid_down_and_centroid_matches_centre():
    img = _render(DS64, _ids(shape=0, pos_x=4, pos_y=np.arange(32)))
    cx, cy = _centroid(img)
    assert (torch.diff(cy) > 0).all()
    expected = (0.18 + 0.64 * np.linspace(0, 1, 32)) * 64  # centre in pixel units
    # a square is symmetric about its centre, so its centroid is the centre
    assert np.allclose(cy.numpy(), expected, atol=0.02)
    assert np.allclose(cx.numpy(), expected[4], atol=0.02)


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_scale_grows_area_quadratically(shape):
    area = _render(DS64, _ids(shape=shape, scale=np.arange(6), orientation=5)).sum((-1, -2))
    assert (torch.diff(area) > 0).all()
    ratio = (area / area[0]).numpy()
    assert np.allclose(ratio, np.linspace(0.5, 1.0, 6) ** 2 / 0.25, rtol=0.03)


def test_shape_areas_match_their_geometry():
    area = _render(DS64, _ids(shape=[0, 1, 2], orientation=0)).sum((-1, -2)).numpy()
    unit = 0.15 * 64  # pixels per local unit at scale 1
    assert area[0] == pytest.approx((1.5 * unit) ** 2, rel=0.01)  # square, half side 0.75
    assert area[1] == pytest.approx(np.pi * 1.0 * 0.5 * unit**2, rel=0.02)  # ellipse (1, 0.5)


def test_shapes_differ_at_identical_factors():
    img = _render(DS64, _ids(shape=[0, 1, 2], orientation=4))
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert (img[a] - img[b]).abs().sum() > 20  # pixels of coverage, not rounding noise


def test_rotating_an_ellipse_a_quarter_turn_transposes_it_on_the_diagonal():
    # the ellipse is mirror-symmetric in its axes, so with its centre on the diagonal a 90 degree
    # rotation equals reflecting the image in the diagonal
    img = _render(DS64, _ids(shape=1, orientation=[0, 10], pos_x=11, pos_y=11))
    assert torch.allclose(img[1], img[0].T, atol=1e-4)
    assert not torch.allclose(img[1], img[0], atol=0.1)


def test_heart_is_left_right_symmetric_and_points_down():
    img = _render(DS64, _ids(shape=2, orientation=0, pos_x=np.arange(32)))[15:17]
    # pos_x 15 and 16 straddle the image centre: mirrored they swap
    assert torch.allclose(img[0].flip(-1), img[1], atol=1e-4)
    rows = img[0].sum(-1)  # mass per row: the wide lobes sit above the tip
    filled = torch.nonzero(rows > 0.5).flatten()
    top, bottom = int(filled.min()), int(filled.max())
    assert rows[top + 2] > rows[bottom - 2]


def test_subset_is_sorted_deterministic_and_seeded():
    a, b, c = (
        DSprites(32, n_items=500, seed=1),
        DSprites(32, n_items=500, seed=1),
        DSprites(32, n_items=500, seed=2),
    )
    ids = a.item_ids()
    assert len(ids) == 500 and a.n_items == 500
    assert np.all(np.diff(ids) > 0) and ids.dtype == np.int64
    assert np.array_equal(ids, b.item_ids()) and a.fingerprint == b.fingerprint
    assert not np.array_equal(ids, c.item_ids()) and a.fingerprint != c.fingerprint
    # a subset renders exactly what the full grid renders for those ids
    some = ids[::97]
    assert torch.equal(next(a.batches(10, some)).x, next(DS32.batches(10, some)).x)


def test_fingerprint_tracks_content_not_irrelevant_options():
    assert len(DS64.fingerprint) == 64 and int(DS64.fingerprint, 16) >= 0
    assert DSprites(64).fingerprint == DS64.fingerprint
    assert DSprites(64, seed=5).fingerprint == DS64.fingerprint  # seed only picks subsets
    assert DS32.fingerprint != DS64.fingerprint


def test_batches_stream_the_requested_ids_in_order():
    ds = DSprites(16, n_items=300, seed=3)
    out = list(ds.batches(128))
    assert [len(b.item_id) for b in out] == [128, 128, 44]
    assert np.array_equal(np.concatenate([b.item_id for b in out]), ds.item_ids())
    want = ds.item_ids()[[5, 2, 200, 2]]
    (batch,) = ds.batches(10, want)
    assert np.array_equal(batch.item_id, want)
    assert batch.x.shape == (4, 1, 16, 16) and batch.x.dtype == torch.float32
    for k, v in ds.factors(want).items():
        assert np.array_equal(batch.factors[k], v)


def test_full_grid_streams_lazily():
    gen = DS64.batches(8)
    assert isinstance(gen, types.GeneratorType)
    first = next(gen)
    assert np.array_equal(first.item_id, np.arange(8))


def test_registry_builds_dsprites():
    ds = get_dataset("dsprites", image_size=32, n_items=50)
    assert isinstance(ds, DSprites) and ds.n_items == 50


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_size": 48}, "image_size=48 is not supported"),
        ({"n_items": 0}, r"n_items=0 must be an integer in \[1, 737280\]"),
        ({"n_items": N_GRID + 1}, "n_items=737281"),
        ({"seed": -1}, "seed=-1"),
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        DSprites(**kwargs)


def test_bad_ids_and_batch_size_raise():
    ds = DSprites(16, n_items=10)
    with pytest.raises(NotFoundError, match=r"not in dataset 'dsprites' \(n_items=10\)"):
        next(ds.batches(4, np.array([N_GRID - 1 if N_GRID - 1 not in ds.item_ids() else 0, -3])))
    with pytest.raises(InvalidInputError, match="1-D integer array"):
        ds.factors(np.array([0.5]))
    with pytest.raises(InvalidInputError, match="batch_size=0 must be a positive integer"):
        next(ds.batches(0))


def test_subsets_are_nested_prefixes_of_one_seeded_order():
    small, large = DSprites(32, n_items=800, seed=4), DSprites(32, n_items=1200, seed=4)
    assert np.isin(small.item_ids(), large.item_ids()).all()
    assert len(np.setdiff1d(large.item_ids(), small.item_ids())) == 400
    other_seed = DSprites(32, n_items=1200, seed=5)
    assert not np.isin(small.item_ids(), other_seed.item_ids()).all()
    assert small.fingerprint != large.fingerprint
