"""Text scorecards: VADER, ground-truth topic and embedding cosine judge retrieved edits."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from latentops.errors import InvalidInputError
from latentops.evaluation import VaderJudge
from latentops.evaluation.text_scorecard import neighbourhood_mean
from latentops.storage import Store

TABLE = "reviews_minilm_v1"
GRID = [-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0]


def test_vader_judge_reads_sentiment():
    vader = VaderJudge()
    scores = vader(["the soup was absolutely fantastic", "the soup was", "the soup was awful"])
    assert scores[0] > 0.5 and scores[1] == 0.0 and scores[2] < -0.4
    assert vader.version.startswith("vaderSentiment==")


def test_neighbourhood_mean_ignores_the_order_of_the_neighbours():
    # the same three sentences retrieved in two orders; a plain mean differs in the last bit
    scores = np.array([[[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], [[0.3, -0.5, 0.0], [0.3, 0.3, 0.3]]])
    assert scores[0, 0].mean() != scores[0, 1].mean()
    got = neighbourhood_mean(scores)  # (2, 2): one mean per edit
    assert got.shape == (2, 2) and got[0, 0] == got[0, 1]  # bit-equal: a tie in the ranks
    assert got[1].tolist() == pytest.approx([-0.2 / 3, 0.3])


def _cells(store: Store, run_id: str, ref: str) -> dict:
    rows = store.scores.read(run_id=run_id, kind="edit").to_pylist()
    return {(r["metric"], r["strength"]): r["value"] for r in rows if r["direction"] == ref}


def test_sentiment_and_topic_scorecards(text_store, prefect_harness):
    from latentops.flows.directions import fit_directions_flow
    from latentops.flows.evaluate import evaluate_flow

    root = str(text_store)
    specs = [
        {"name": "sentiment_eval", "method": "logistic", "label": "polarity"},
        {"name": "books_eval", "method": "logistic", "label": "topic==books"},
    ]
    sentiment, books = fit_directions_flow(TABLE, specs, store=root)
    out = evaluate_flow(TABLE, [sentiment, books], "text", strengths=GRID, sample=None,
                        where="split = 'test'", store=root)  # fmt: skip
    assert out["judge"] == "text" and out["n_items"] >= 60
    store = Store.open(root)
    s = _cells(store, out["run_id"], sentiment)
    means = [s[("text.target.mean", a)] for a in GRID]  # VADER compound of the retrieved
    assert means[-1] - means[0] > 0.5 and np.all(np.diff(means) > -0.05)
    # the report's figures on a 400-sentence corpus (~80 held-out items)
    # each edit judged over its 5 nearest sentences: one nearest sentence flips once (~0.86)
    assert s[("text.strength.item_spearman_median", None)] >= 0.9
    assert min(s[("text.preservation.topic", a)] for a in GRID if abs(a) <= 1.5) >= 0.8
    assert all(0.3 < s[("text.fidelity.decode", a)] <= 1.0 for a in GRID)
    rows = store.scores.read(run_id=out["run_id"], kind="edit").to_pylist()
    assert {json.loads(r["params_json"])["decoder_k"] for r in rows} == {5}
    b = _cells(store, out["run_id"], books)
    assert b[("text.target.mean", 3.0)] > b[("text.target.mean", -3.0)] + 0.3  # more books
    off = [b[("text.off_target.sentiment", a)] for a in GRID]
    assert all(np.isfinite(off)) and max(off) > 0  # the topic edit's effect on sentiment
    assert ("text.preservation.topic", 0.0) not in b  # the target is not its own off-target


def test_text_and_image_judges_do_not_mix(text_store, tmp_path, prefect_harness, table_versions):
    from latentops.flows.evaluate import evaluate_flow
    from latentops.flows.importing import import_flow

    before = table_versions(text_store)
    with pytest.raises(InvalidInputError, match="holds text latents.*--judge text"):
        evaluate_flow(TABLE, ["sentiment_eval"], "dsprites-judge", store=str(text_store))
    assert table_versions(text_store) == before
    pq.write_table(
        pa.table({"emb": np.random.default_rng(0).normal(size=(20, 4)).tolist()}),
        tmp_path / "emb.parquet",
    )
    root = str(tmp_path / "store")
    import_flow(path=str(tmp_path / "emb.parquet"), table="vecs", vector_column="emb", store=root)
    with pytest.raises(InvalidInputError, match="scores sentences.*not texts"):
        evaluate_flow("vecs", ["any"], "text", store=root)
