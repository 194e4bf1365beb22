"""Attribute predictors: learn a synthetic image task, expected-value output, config, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latentops.errors import InvalidInputError
from latentops.evaluation import (
    UNLEARNABLE,
    AttributePredictor,
    JudgeTraining,
    PredictorConfig,
    accuracy_by,
    evaluate_predictor,
    fit_judge,
    judge_factors,
    left_out_factors,
    resolve_target,
    train_predictor,
)

CONFIG = PredictorConfig(
    in_channels=1, image_size=16, factor_sizes={"x": 4, "y": 4}, width=8, feature_dim=32
)


def squares(n: int, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(n, 1, 16, 16) noisy images with a bright 4x4 square in one of 4x4 cells, and its cell."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 4, (n,), generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    images = 0.1 * torch.randn(n, 1, 16, 16, generator=g)
    for i in range(n):
        images[i, 0, 4 * y[i] : 4 * y[i] + 4, 4 * x[i] : 4 * x[i] + 4] += 1.0
    return images, {"x": x, "y": y}


def batches_of(data: tuple[torch.Tensor, dict[str, torch.Tensor]], size: int = 64):
    images, labels = data
    for s in range(0, images.shape[0], size):
        yield images[s : s + size], {k: v[s : s + size] for k, v in labels.items()}


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model = AttributePredictor(CONFIG)
    train = squares(512, seed=1)
    result = train_predictor(model, lambda epoch: batches_of(train), epochs=6, lr=3e-3, seed=0)
    return model, result


def test_predictor_learns_square_position_well_above_chance(trained):
    model, result = trained
    held_out = evaluate_predictor(model, batches_of(squares(256, seed=2)))
    assert held_out["x"] > 0.9 and held_out["y"] > 0.9  # chance is 0.25
    losses = [h["loss"] for h in result["history"]]
    assert losses[-1] < losses[0] / 2
    assert set(result["accuracy"]) == {"x", "y"} and result["seed"] == 0


def test_predict_is_the_softmax_expected_class_index(trained):
    model, _ = trained
    images, labels = squares(64, seed=3)
    pred = model.predict(images)
    logits = model(images)
    for name in ("x", "y"):
        p = logits[name].softmax(dim=1)
        expected = (p * torch.arange(4.0)).sum(dim=1)
        torch.testing.assert_close(pred[name], expected)
        assert pred[name].shape == (64,) and not pred[name].requires_grad
        assert ((pred[name] - labels[name].float()).abs() < 0.5).float().mean() > 0.9
    feats = model.features(images)
    assert feats.shape == (64, CONFIG.feature_dim) and not feats.requires_grad


def test_training_is_seeded_and_leaves_the_global_rng_alone():
    data = squares(64, seed=4)
    states = []
    for _ in range(2):
        torch.manual_seed(5)
        model = AttributePredictor(CONFIG)
        before = torch.random.get_rng_state()
        train_predictor(model, lambda epoch: batches_of(data, 32), epochs=1, seed=9)
        assert torch.equal(torch.random.get_rng_state(), before)
        states.append(model.state_dict())
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key], rtol=0, atol=0)


def test_config_is_hashable_and_json_round_trips():
    assert hash(CONFIG) == hash(PredictorConfig(1, 16, {"y": 4, "x": 4}, 8, 32))
    again = PredictorConfig(**json.loads(json.dumps(CONFIG.to_dict())))
    assert again == CONFIG and again.factors == {"x": 4, "y": 4}
    assert AttributePredictor(PredictorConfig(3, 64, {"shape": 3})).features(
        torch.zeros(2, 3, 64, 64)
    ).shape == (2, 128)


def test_predictor_bad_inputs():
    with pytest.raises(InvalidInputError, match="factor_sizes is empty"):
        PredictorConfig(factor_sizes={})
    with pytest.raises(InvalidInputError, match=">= 2 classes"):
        PredictorConfig(factor_sizes={"a": 1})
    model = AttributePredictor(CONFIG)
    with pytest.raises(InvalidInputError, match=r"expects \(B, 1, 16, 16\)"):
        model.predict(torch.zeros(2, 3, 16, 16))
    images, labels = squares(8, seed=0)
    with pytest.raises(InvalidInputError, match=r"factors \['x'\] but the predictor has"):
        train_predictor(model, lambda e: [(images, {"x": labels["x"]})], epochs=1)
    with pytest.raises(InvalidInputError, match=r"class indices in \[0, 4\)"):
        train_predictor(model, lambda e: [(images, {"x": labels["x"] + 4, "y": labels["y"]})])
    with pytest.raises(InvalidInputError, match="yielded no batches"):
        train_predictor(model, lambda e: [], epochs=1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_predictor_trains_and_predicts_on_cuda():
    data = squares(256, seed=6)
    torch.manual_seed(0)
    model = AttributePredictor(CONFIG)
    cuda_rng = torch.cuda.get_rng_state()
    result = train_predictor(model, lambda e: batches_of(data), epochs=4, lr=3e-3, device="cuda")
    assert torch.equal(torch.cuda.get_rng_state(), cuda_rng)
    assert result["accuracy"]["x"] > 0.5
    images = data[0][:32]
    on_gpu = model.predict(images.cuda())
    from_cpu = model.predict(images)  # inputs follow the model's device
    assert on_gpu["x"].is_cuda and from_cpu["x"].is_cuda
    cpu_model = AttributePredictor(CONFIG)
    cpu_model.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    torch.testing.assert_close(cpu_model.predict(images)["y"], on_gpu["y"].cpu(), atol=1e-4, rtol=0)


def test_heads_are_weighted_by_their_chance_loss_and_weights_round_trip():
    config = PredictorConfig(factor_sizes={"shape": 3, "pos_x": 32}, loss_weights={"pos_x": 0.5})
    assert config.weights == pytest.approx({"shape": 1 / np.log(3), "pos_x": 0.5})
    assert PredictorConfig(**json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(InvalidInputError, match="loss_weights entries"):
        PredictorConfig(factor_sizes={"shape": 3}, loss_weights={"colour": 1.0})


def test_judge_factors_leave_out_the_unlearnable_orientation_head():
    sizes = {"shape": 3, "scale": 6, "orientation": 40, "pos_x": 32, "pos_y": 32, "c": 1}
    assert judge_factors(sizes) == {"shape": 3, "scale": 6, "pos_x": 32, "pos_y": 32}
    assert "symmetry" in UNLEARNABLE["orientation"]
    assert left_out_factors(sizes) == {
        "orientation": UNLEARNABLE["orientation"],
        "c": "one value only: nothing to tell apart",
    }


def test_fit_judge_trains_only_the_judge_factors_and_says_what_it_left_out():
    from latentops.data import get_dataset

    data = get_dataset("dsprites", image_size=16, n_items=64)
    ids = data.item_ids()
    training = JudgeTraining(epochs=1, batch_size=32, width=4, feature_dim=8)
    judge, result, held_out = fit_judge(data, ids[:48], ids[48:], training)
    assert "orientation" in data.factor_sizes and "orientation" not in judge.heads
    acc = held_out["accuracy"]
    assert set(judge.heads) == set(judge_factors(data.factor_sizes)) and "orientation" not in acc
    assert set(acc) == {
        "shape",
        "scale",
        "pos_x",
        "pos_y",
        *(f"{g}_within_1" for g in ("scale", "pos_x", "pos_y")),
    }
    # each other head's accuracy at each of the 6 scales (None where no held-out item has it)
    by_scale = held_out["accuracy_by"]["scale"]
    assert set(by_scale) == {"shape", "pos_x", "pos_y"} and all(
        len(v) == 6 for v in by_scale.values()
    )
    assert result["left_out"] == {"orientation": UNLEARNABLE["orientation"]}
    # one-cycle over the planned steps: 48 items / batch 32 = 2 steps
    assert result["steps"] == 2 and result["schedule"].startswith("one-cycle")


def test_a_target_on_a_left_out_factor_is_refused_with_the_reason():
    card = {
        "ref": "judge@3",
        "factors": {"shape": 3, "pos_x": 32},
        "train": {"left_out": {"orientation": UNLEARNABLE["orientation"]}},
    }
    attr, weights, expr = resolve_target(None, {"expr": "shape==2"}, card, "heart@1")
    assert (attr, expr, weights.tolist()) == ("shape", "shape==2", [0.0, 0.0, 1.0])
    for target in ("orientation", "orientation>=20"):
        with pytest.raises(InvalidInputError, match=r"judge@3 does not predict orientation.*symm"):
            resolve_target(target, None, card, "rot@1")
    with pytest.raises(InvalidInputError, match="cannot see"):  # unknown, not left out
        resolve_target("colour", None, card, "c@1")
    old = {"ref": "judge@1", "factors": {"shape": 3}, "train": {}}  # a card before left_out
    with pytest.raises(InvalidInputError, match="cannot see"):
        resolve_target("orientation", None, old, "rot@1")


def test_grid_factors_are_also_scored_within_one_step():
    config = PredictorConfig(image_size=16, factor_sizes={"x": 8, "s": 3}, width=4, feature_dim=8)
    model = AttributePredictor(config)
    images = torch.zeros(5, 1, 16, 16)
    guess = model(images)["x"].argmax(dim=1)  # (5,) the same guess for every blank image
    x = torch.clamp(guess + torch.tensor([0, 1, -1, 3, 5]), 0, 7)
    acc = evaluate_predictor(model, [(images, {"x": x, "s": torch.zeros(5, dtype=torch.long)})])
    assert set(acc) == {"x", "s", "x_within_1"}  # 3-way s is categorical: no within-1 score
    assert acc["x"] == pytest.approx(float((x == guess).float().mean()))
    assert acc["x_within_1"] == pytest.approx(float(((x - guess).abs() <= 1).float().mean()))


def test_accuracy_by_breaks_every_other_head_down_by_one_factor():
    config = PredictorConfig(image_size=16, factor_sizes={"x": 8, "s": 3}, width=4, feature_dim=8)
    model = AttributePredictor(config)
    images = torch.zeros(6, 1, 16, 16)
    guess = model(images)["x"].argmax(dim=1)  # (6,) one guess for every blank image
    x = torch.clamp(guess + torch.tensor([0, 1, 0, 0, 2, 0]), 0, 7)
    s = torch.tensor([0, 0, 1, 1, 1, 1])  # no item at s=2
    out = accuracy_by(
        model, [(images[:3], {"x": x[:3], "s": s[:3]}), (images[3:], {"x": x[3:], "s": s[3:]})], "s"
    )
    right = (x == guess).float()
    assert set(out) == {"x"}  # s itself is not broken down by s
    assert out["x"] == [
        pytest.approx(float(right[:2].mean())),
        pytest.approx(float(right[2:].mean())),
        None,
    ]
    with pytest.raises(
        InvalidInputError, match=r"by='colour' is not one of the predictor's factors"
    ):
        accuracy_by(model, [(images, {"x": x, "s": s})], "colour")


def test_revision_2_adds_a_global_max_and_revision_1_cards_still_load():
    sizes = {"shape": 3, "pos_x": 32}
    new = AttributePredictor(PredictorConfig(image_size=32, factor_sizes=sizes, width=4))
    old_config = PredictorConfig.from_dict({"image_size": 32, "factor_sizes": sizes, "width": 4})
    old = AttributePredictor(old_config)  # a card written before revision existed
    assert new.config.revision == 2 and old.config.revision == 1
    # the last grid is 8x8 with 8 channels: revision 1 sees the 4x4 grid, 2 also the max
    assert old.proj[1].in_features == 8 * 16 and new.proj[1].in_features == 8 * 16 + 8
    assert set(old.state_dict()) < set(new.state_dict())  # old checkpoints keep their keys
    x = torch.rand(2, 1, 32, 32)
    assert old.predict(x)["shape"].shape == new.predict(x)["shape"].shape == (2,)
    with pytest.raises(InvalidInputError, match="revision=3 must be 1 or 2"):
        PredictorConfig(factor_sizes=sizes, revision=3)
