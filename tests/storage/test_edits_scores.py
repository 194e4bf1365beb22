"""Edits, scores and judge registry on real Delta files: round trip, exactly once, refusals."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch

from latentops.errors import CorruptArtifactError, InvalidInputError, NotFoundError
from latentops.evaluation import AttributePredictor, PredictorConfig
from latentops.storage.edits import EditSource, EditsTable, build_edit_rows, png_array, png_bytes
from latentops.storage.judges import JudgeRegistry
from latentops.storage.scores import Protocol, Score, ScoreSource, ScoresTable, build_score_rows

SOURCE = EditSource("vae@1", "ab" * 32, "toy", 3, "run-1")


def read_png(data: bytes) -> np.ndarray:
    """Minimal PNG reader for 8-bit grey/RGB images with filter 0 (what png_bytes writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body)
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, color = header[:4]
    c = 1 if color == 0 else 3
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * c)
    assert depth == 8 and (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(h, w, c).transpose(2, 0, 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_png_round_trip_is_exact_at_8_bits(channels):
    rng = np.random.default_rng(channels)
    image = rng.random((channels, 5, 7)).astype(np.float32)
    data = png_bytes(image)
    back = read_png(data)  # an independent reader that also checks every chunk's CRC
    np.testing.assert_array_equal(back, np.rint(image * 255).astype(np.uint8))
    np.testing.assert_array_equal(png_array(data), back / np.float32(255.0))
    with pytest.raises(InvalidInputError, match=r"\(C, H, W\) with C = 1 or 3"):
        png_bytes(np.zeros((2, 4, 4)))


def _rows(n=4, d=3, strengths=(-1.0, 1.0), seed=0):
    rng = np.random.default_rng(seed)
    ids = np.tile(np.arange(n), len(strengths))
    z = rng.normal(size=(len(ids), d)).astype(np.float32)
    s = np.repeat(strengths, n)
    return build_edit_rows(
        "direction", ids, z, s, np.repeat(np.arange(len(strengths)), n), SOURCE, direction="smile@2"
    ), z


def test_edits_round_trip_and_rerun_inserts_nothing(store):
    edits = EditsTable(store.table_uri("edits"))
    rows, z = _rows()
    assert edits.insert(rows, "run-1") == 8
    assert edits.insert(rows, "run-2") == 0  # same edits: exactly once
    back = edits.read()
    assert back.num_rows == 8 and set(back["direction"].to_pylist()) == {"smile@2"}
    got = {(r["item_id"], r["strength"]): r["z_edit"] for r in back.to_pylist()}
    np.testing.assert_allclose(got[(2, 1.0)], z[4 + 2])
    # ids depend on what was edited (and the encoder weights), not on the run
    other = build_edit_rows(
        "direction",
        [0],
        z[:1],
        [1.0],
        [1],
        EditSource("vae@2", "cd" * 32, "toy", 3),
        direction="smile@2",
    )
    assert other["edit_id"][0].as_py() not in set(back["edit_id"].to_pylist())
    assert (
        store.sql("SELECT count(*) AS n FROM edits WHERE direction = 'smile@2'")["n"][0].as_py()
        == 8
    )


def test_bad_edit_rows_are_refused_before_anything_is_written(store):
    edits = EditsTable(store.table_uri("edits"))
    z = np.zeros((2, 3), np.float32)
    with pytest.raises(InvalidInputError, match="kind 'warp'"):
        build_edit_rows("warp", [0, 1], z, [1.0, 2.0], [0, 1], SOURCE)
    with pytest.raises(InvalidInputError, match="strength has 3 rows for 2 item ids"):
        build_edit_rows("direction", [0, 1], z, [1.0, 2.0, 3.0], [0, 1], SOURCE)
    with pytest.raises(InvalidInputError, match="NaN"):
        build_edit_rows(
            "direction", [0, 1], np.full((2, 3), np.nan, np.float32), [1.0, 2.0], [0, 1], SOURCE
        )
    twice = build_edit_rows("direction", [0, 0], z, [1.0, 1.0], [0, 0], SOURCE, direction="a@1")
    with pytest.raises(InvalidInputError, match="repeats an edit"):
        edits.insert(twice, "run-1")
    assert not edits.exists()


def _protocol(**kw):
    base = {
        "estimator": "mean",
        "seed": 0,
        "n_items": 10,
        "strength_grid": (-1.0, 1.0),
        "judge": "j@1",
        "judge_sha256": "ef" * 32,
        "params": {"target": "pos_x"},
    }
    return Protocol(**{**base, **kw})


SCORE_SRC = ScoreSource("run-1", "edit", "vae@1", "ab" * 32, "toy", 3)


def test_scores_carry_their_protocol_and_protocol_ids_tell_computations_apart(store):
    scores = ScoresTable(store.table_uri("scores"))
    p = _protocol()
    rows = build_score_rows(
        [
            Score("target.delta", 0.5, p, "smile@2", 1.0, "pos_x"),
            Score("target.delta", -0.5, p, "smile@2", -1.0, "pos_x"),
            Score("strength.slope", 0.5, p, "smile@2", None, "pos_x"),
        ],
        SCORE_SRC,
    )
    assert scores.insert(rows, "run-1") == 3
    assert scores.insert(rows, "run-1") == 0  # a retried task writes nothing twice
    back = scores.read(run_id="run-1").to_pylist()
    assert {r["judge"] for r in back} == {"j@1"} and all(
        r["strength_grid"] == [-1.0, 1.0] for r in back
    )
    assert all(r["code_version"] and r["estimator"] == "mean" and r["seed"] == 0 for r in back)
    # same metric and settings -> same id; any setting changed -> another id
    same = p.protocol_id("target.delta")
    assert same == _protocol().protocol_id("target.delta")
    for change in (
        {"seed": 1},
        {"judge": "j@2"},
        {"strength_grid": (-2.0, 2.0)},
        {"n_items": 11},
        {"estimator": "median"},
        {"params": {"target": "shape==2"}},
    ):
        assert _protocol(**change).protocol_id("target.delta") != same, change
    summary = store.sql("SELECT * FROM score_summary() WHERE metric = 'target.delta'").to_pylist()[
        0
    ]
    assert summary["n_strengths"] == 2 and summary["slope"] == pytest.approx(0.5)


def test_bad_scores_are_refused(store):
    p = _protocol()
    with pytest.raises(InvalidInputError, match="nan"):
        build_score_rows([Score("m", float("nan"), p, "a@1", 1.0)], SCORE_SRC)
    with pytest.raises(InvalidInputError, match="appears twice"):
        build_score_rows(
            [Score("m", 1.0, p, "a@1", 1.0), Score("m", 2.0, p, "a@1", 1.0)], SCORE_SRC
        )
    with pytest.raises(InvalidInputError, match="kind 'fid'"):
        build_score_rows([Score("m", 1.0, p)], ScoreSource("r", "fid", "vae@1", None, "toy", 0))
    assert not ScoresTable(store.table_uri("scores")).exists()


def test_judge_registry_round_trip_versions_and_corruption(store):
    config = PredictorConfig(
        in_channels=1, image_size=8, factor_sizes={"shape": 3}, width=4, feature_dim=8
    )
    torch.manual_seed(0)
    judge = AttributePredictor(config)
    registry = JudgeRegistry(store.root)
    kw = {
        "dataset": "toy",
        "dataset_fingerprint": "f" * 64,
        "dataset_options": {},
        "train": {"epochs": 1},
        "metrics": {"held_out_accuracy": {"shape": 0.5}},
    }
    assert str(registry.register("judge", judge, **kw)) == "judge@1"
    assert str(registry.register("judge", judge, **kw)) == "judge@2"
    loaded, card = registry.load("judge@1")
    x = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(loaded.predict(x)["shape"], judge.eval().predict(x)["shape"])
    assert card["factors"] == {"shape": 3} and card["metrics"]["held_out_accuracy"]["shape"] == 0.5
    assert registry.list().num_rows == 2
    with pytest.raises(NotFoundError, match="versions"):
        registry.card("judge@3")
    (store.root / card["checkpoint"]).write_bytes(b"not safetensors")
    with pytest.raises(CorruptArtifactError, match="sha256"):
        registry.load("judge@1")
