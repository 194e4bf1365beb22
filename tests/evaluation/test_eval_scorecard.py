"""Edit scorecard primitives: closed-form values, invariances and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from latentops.errors import InvalidInputError, NotFoundError
from latentops.evaluation import (
    Part,
    calibrate_strength,
    dose_response,
    finish_scorecard,
    frechet_distance,
    frechet_distance_from_stats,
    locality,
    off_target_matrix,
    path_length,
    prior_plausibility,
)

S = np.linspace(-2.0, 2.0, 9)


# ---- dose response ----------------------------------------------------------------------


def test_dose_response_recovers_a_known_line():
    rng = np.random.default_rng(0)
    items = rng.normal(size=50)  # per-item offsets, zero-mean noise around the line
    responses = 0.7 * S[:, None] + 1.5 + (items - items.mean())[None, :]  # (S, N)
    out = dose_response(S, responses)
    assert out["slope"] == pytest.approx(0.7, abs=1e-12)
    assert out["intercept"] == pytest.approx(1.5, abs=1e-12)
    assert out["r2"] == pytest.approx(1.0, abs=1e-12)
    assert out["spearman"] == pytest.approx(1.0)
    assert out["item_spearman_mean"] == pytest.approx(1.0)
    assert (out["n_strengths"], out["n_items"]) == (9, 50)


def test_dose_response_nonlinear_monotone_and_flat():
    cubic = dose_response(S, (S**3)[:, None])
    assert cubic["spearman"] == pytest.approx(1.0) and cubic["r2"] < 0.95
    flat = dose_response(S, np.ones((9, 3)))
    assert flat["slope"] == pytest.approx(0.0, abs=1e-12)
    assert flat["spearman"] == 0.0 and flat["item_spearman_mean"] == 0.0
    down = dose_response(torch.tensor(S), torch.tensor(-S)[:, None].repeat(1, 4))
    assert down["spearman"] == pytest.approx(-1.0) and down["slope"] == pytest.approx(-1.0)


# ---- off-target -------------------------------------------------------------------------


def test_off_target_matrix_mean_absolute_change():
    before = {"smile": np.zeros(4), "age": np.array([1.0, 2.0, 3.0, 4.0]), "hair": np.ones(4)}
    after = {
        "smile": np.stack([np.full(4, s) for s in (0.0, 1.0, 2.0)]),  # (S=3, N=4)
        "age": before["age"][None, :] + np.array([[0.0], [0.5], [-1.0]]),  # |0|, |.5|, |1|
        "hair": np.ones((3, 4)),
    }
    out = off_target_matrix(before, after, "smile")
    assert out["attributes"] == ["age", "hair"]
    np.testing.assert_allclose(out["matrix"], [[0.0, 0.5, 1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(out["target_change"], [0.0, 1.0, 2.0])
    assert out["per_attribute"] == {"age": pytest.approx(0.5), "hair": 0.0}
    assert out["max_off_target"] == pytest.approx(1.0)


def test_off_target_max_share_divides_each_change_by_the_attributes_range():
    S, n = 3, 20  # pos moves 3 of its 31 steps (a tenth), shape 0.5 of its 2 (a quarter)
    grid = np.linspace(-1, 1, S)
    feats = np.random.default_rng(0).standard_normal((S + 1, n, 2))
    sums = {"pix": np.ones(S), "recon": 0.0, "cycle_n": 0}
    sums.update({k: np.zeros(S) for k in ("loc", "loc_n", "on", "off")})
    move = np.abs(grid)[:, None] * np.ones((S, n))  # (S, N): 1 at the ends, 0 in the middle
    part = Part(
        offset=0,
        n=n,
        resp=grid[:, None] * np.ones((S, n)),
        resp_base=np.zeros(n),
        pred={"t": np.zeros((S, n)), "pos": 10 + 3 * move, "shape": 1 - 0.5 * move},
        pred_base={"t": np.zeros(n), "pos": np.full(n, 10.0), "shape": np.ones(n)},
        logp=-np.ones((S, n)),
        moments=[feats.sum(1), np.einsum("sbf,sbg->sfg", feats, feats)],
        sums=sums,
        ppl=None,
    )
    classes = {"t": 2, "pos": 32, "shape": 3}
    values, _ = finish_scorecard(part, grid, "t", 1e-2, None, None, classes=classes)
    assert values[("off_target.max", 1.0)][0] == pytest.approx(3.0)  # in class steps: pos
    share, _, params = values[("off_target_share.max", 1.0)]
    assert share == pytest.approx(0.25) and params == {"attribute": "shape"}
    assert values[("off_target_share.max", 0.0)][0] == pytest.approx(0.0)
    without, _ = finish_scorecard(part, grid, "t", 1e-2, None, None)
    assert not any(m == "off_target_share.max" for m, _ in without)


def test_off_target_bad_inputs():
    before = {"a": np.zeros(3), "b": np.zeros(3)}
    after = {"a": np.zeros((2, 3)), "b": np.zeros((2, 3))}
    with pytest.raises(NotFoundError, match="target attribute 'c' is missing"):
        off_target_matrix(before, after, "c")
    with pytest.raises(InvalidInputError, match="same attributes"):
        off_target_matrix(before, {"a": after["a"]}, "a")
    with pytest.raises(InvalidInputError, match=r"expected \(N,\) and \(S, N\)"):
        off_target_matrix(before, {"a": after["a"], "b": np.zeros((2, 4))}, "a")


# ---- Fréchet distance -------------------------------------------------------------------


def test_frechet_identical_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(200, 6))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=4, max_size=4))
def test_frechet_of_a_shifted_set_is_the_squared_shift(shift):
    x = np.random.default_rng(1).normal(size=(300, 4)) @ np.diag([1.0, 2.0, 0.5, 1.0])
    shift = np.array(shift)
    # same covariance: tr(C + C - 2 (C C)^1/2) = 0, leaving |shift|^2 exactly
    assert frechet_distance(x, x + shift) == pytest.approx(float(shift @ shift), abs=1e-6)


def test_frechet_from_stats_matches_the_diagonal_closed_form():
    va, vb = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu = np.array([1.0, 0.0, -1.0])
    expected = mu @ mu + np.sum((np.sqrt(va) - np.sqrt(vb)) ** 2)
    got = frechet_distance_from_stats(mu, np.diag(va), np.zeros(3), np.diag(vb))
    assert got == pytest.approx(expected, abs=1e-9)


def test_frechet_survives_singular_covariances():
    x = np.random.default_rng(2).normal(size=(5, 16))  # 5 samples, 16 dims: rank-4 covariance
    y = x + 1.0
    assert frechet_distance(x, y) == pytest.approx(16.0, abs=1e-3)
    with pytest.raises(InvalidInputError, match="same f"):
        frechet_distance(x, y[:, :3])


# ---- path length ------------------------------------------------------------------------


def test_path_length_of_a_constant_speed_path():
    t = np.linspace(0.0, 1.0, 11)  # eps = 0.1
    direction = np.array([3.0, 4.0])  # |v| = 5
    feats = t[:, None, None] * direction[None, None, :] * np.ones((1, 20, 1))  # (T, N, f)
    out = path_length(feats, eps=0.1)
    assert out["path_length"] == pytest.approx(25.0)  # |v eps|^2 / eps^2
    assert out["n_pairs"] == 200


def test_path_length_trims_outliers():
    rng = np.random.default_rng(0)
    feats = np.cumsum(rng.normal(scale=0.1, size=(101, 10, 3)), axis=0)
    feats[50:, 0] += 1000.0  # one huge jump in one path
    out = path_length(feats, eps=0.1)
    assert out["n_kept"] < out["n_pairs"]
    assert out["path_length"] < 10.0  # the jump (1e8 / eps^2) was trimmed
    with pytest.raises(InvalidInputError, match=r"\(T, N, f\)"):
        path_length(feats[:1], eps=0.1)
    with pytest.raises(InvalidInputError, match="eps=0"):
        path_length(feats, eps=0)


# ---- locality ---------------------------------------------------------------------------


def test_locality_extremes_and_a_patch():
    one = np.zeros((3, 16, 16))
    one[:, 4, 7] = 2.0
    assert locality(one) == pytest.approx(1.0)
    assert locality(np.ones((3, 16, 16))) == pytest.approx(0.0)
    patch = np.zeros((2, 16, 16))
    patch[:, :4, :4] = -1.0  # 16 equally changed pixels: participation ratio 16
    assert locality(patch) == pytest.approx(1 - 15 / 255)
    with pytest.raises(InvalidInputError, match="zero for every item"):
        locality(np.zeros((2, 4)))


# ---- prior plausibility -----------------------------------------------------------------


def test_prior_plausibility_percentiles():
    data = np.arange(1.0, 101.0)  # 1..100
    out = prior_plausibility(np.array([50.0, 100.0, -3.0]), data)
    assert out["median_percentile"] == pytest.approx(50.0)
    assert out["mean_percentile"] == pytest.approx(50.0)  # (50 + 100 + 0) / 3
    assert out["frac_below_data_p1"] == pytest.approx(1 / 3)
    assert out["data_p1"] == pytest.approx(np.percentile(data, 1))


# ---- calibration ------------------------------------------------------------------------


def test_calibrate_strength_inverts_a_monotone_response():
    responses = (2.0 * S + 1.0)[:, None] * np.ones((1, 5))  # change of +2 per unit strength
    assert calibrate_strength(S, responses, 1.0) == pytest.approx(0.5)
    assert calibrate_strength(S, responses, -3.0) == pytest.approx(-1.5)
    assert calibrate_strength(S, responses, 0.0) == pytest.approx(0.0)
    # judge noise that breaks monotonicity is pooled, not followed
    noisy = (S**3)[:, None].copy()
    noisy[6] = noisy[5] - 0.1
    s = calibrate_strength(S, noisy, 4.0)
    assert 1.0 < s < 2.0


def test_calibrate_strength_out_of_range_names_the_reachable_range():
    responses = np.tanh(S)[:, None]
    with pytest.raises(InvalidInputError, match=r"outside the reachable change \[-0.964, 0.964\]"):
        calibrate_strength(S, responses, 1.5)
    with pytest.raises(InvalidInputError, match="must include 0"):
        calibrate_strength(S + 3.0, responses, 0.1)
    with pytest.raises(InvalidInputError, match="distinct values"):
        calibrate_strength(np.zeros(9), responses, 0.1)
    with pytest.raises(InvalidInputError, match=r"must be \(S, N\) with S=9"):
        calibrate_strength(S, responses.T, 0.1)


def test_weak_semantics_flags_an_encoded_label_the_edit_does_not_move():
    from latentops.evaluation import weak_semantics

    s = np.linspace(-3, 3, 5)
    rng = np.random.default_rng(0)
    flat = 2.0 + 0.05 * rng.standard_normal((5, 16))  # the judge sees no change
    strong = s[:, None] * 0.8 + 2.0 + 0.05 * rng.standard_normal((5, 16))  # ~5 class steps
    weak = weak_semantics(0.9, s, flat)
    assert weak["weak_semantics"] == 1.0 and weak["judged_change"] < 0.1
    ok = weak_semantics(0.9, s, strong)
    assert ok["weak_semantics"] == 0.0 and ok["item_spearman_median"] == 1.0
    assert ok["judged_change"] == pytest.approx(4.8, abs=0.1)
    # a label the latents do not encode makes no claim to be weak: that is a probe failure
    assert weak_semantics(0.2, s, flat)["weak_semantics"] == 0.0
    with pytest.raises(InvalidInputError, match="probe_score=nan"):
        weak_semantics(float("nan"), s, flat)


def _scorecard(probe_grid, **kw):
    """A Scorecard whose decoder draws only latent dim 0, edited along dim 1 (or ``v``)."""
    from latentops.evaluation import AttributePredictor, Judged, PredictorConfig, Scorecard

    torch.manual_seed(0)
    config = PredictorConfig(image_size=8, factor_sizes={"a": 4, "b": 3}, width=4, feature_dim=8)
    judged = Judged(AttributePredictor(config), "a", np.arange(4.0))
    seen = []

    def decode(z):
        seen.append(z.clone())
        return torch.sigmoid(z[:, :1, None, None]).expand(-1, 1, 8, 8).contiguous()

    card = Scorecard(
        judged,
        decode,
        lambda x: torch.zeros(x.shape[0], 3),
        np.asarray(probe_grid, np.float64),
        kw.pop("v", np.array([0.0, 1.0, 0.0], np.float32)),
        ppl_items=0,
        ppl_eps=0.01,
        seed=0,
        **kw,
    )
    z = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    card.add(z, torch.rand(6, 1, 8, 8))
    return card, z, seen


def test_scorecard_edits_by_the_directions_offsets():
    grid = [-2.0, 0.0, 2.0]
    _, z, seen = _scorecard(grid, offsets=lambda s: np.asarray(s, np.float64) * 3.0)
    edited = seen[0].view(3, 6, 3).numpy()  # (S, B, d): one decode of every strength
    for i, s in enumerate(grid):
        np.testing.assert_allclose(edited[i], z + np.array([0.0, 3.0 * s, 0.0]), atol=1e-6)
    _, z, seen = _scorecard(grid)  # no offsets: strengths are latent distances
    np.testing.assert_allclose(seen[0].view(3, 6, 3).numpy()[2], z + [0.0, 2.0, 0.0], atol=1e-6)


def test_every_scorecard_carries_the_weak_semantics_check():
    grid = [-2.0, 0.0, 2.0]
    card, _, _ = _scorecard(grid)  # the decoder ignores dim 1: the judge sees no change
    logp = np.random.default_rng(1).standard_normal(50)
    values, skipped = card.finish(logp, None, probe_score=0.95)
    assert values[("semantics.weak", None)][0] == 1.0
    assert values[("semantics.judged_change", None)][0] < 1e-6
    assert values[("semantics.weak", None)][2]["probe_score"] == 0.95
    assert values[("semantics.weak", None)][1].startswith("1 when the probe score")
    values, _ = card.finish(logp, None, probe_score=0.3)  # not encoded: no claim to be weak
    assert values[("semantics.weak", None)][0] == 0.0
    values, skipped = card.finish(logp, None)  # no probe (pca, manual): left out with why
    assert ("semantics.weak", None) not in values
    assert any(s.startswith("semantics.weak: ") for s in skipped)
