"""Encoding text through the flow and CLI: rows carry the sentence, kNN and SQL work."""

from __future__ import annotations

import numpy as np
import torch

from latentops.data import get_dataset
from latentops.storage import Store


def test_flow_rows_equal_direct_encoding(text_store, minilm):
    store = Store.open(text_store)
    rows = store.latents("reviews_minilm_v1").read(["item_id", "text", "topic", "truncated", "z"])
    assert rows.num_rows == 400
    data = get_dataset("reviews", n_items=400)
    ids = rows["item_id"].to_numpy()
    assert rows["text"].to_pylist() == data.texts(ids)
    z = np.stack(rows["z"].to_numpy(zero_copy_only=False))
    with torch.inference_mode():
        direct = minilm.encode(data.texts(ids[:32])).numpy()
    assert np.abs(z[:32] - direct).max() < 1e-5
    assert sum(rows["truncated"].to_pylist()) == 0  # review sentences fit the window
    card = store.latents("reviews_minilm_v1").card
    assert card["model"] == "minilm@1" and card["d"] == 384


def test_knn_item_over_sentences(text_store):
    store = Store.open(text_store)
    first = int(store.latents("reviews_minilm_v1").item_ids()[0])
    hits = store.sql(
        "SELECT s.topic = n.topic AS same_topic FROM knn_item('latents.reviews_minilm_v1', ?, 5)"
        " n, latents.reviews_minilm_v1 s WHERE s.item_id = ?",
        [first, first],
    )
    assert hits.num_rows == 5
    assert sum(hits["same_topic"].to_pylist()) >= 3  # neighbours of a review share its topic


def test_cli_encode_minilm_reviews_then_knn(cli, tmp_path):
    root = str(tmp_path / "store")
    done = cli("encode", "--model", "minilm", "--dataset", "reviews", "--n-items", "60",
               "--store", root)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "reviews_minilm_v1: 60 new rows" in done.stdout
    sql = "SELECT count(*) AS n FROM knn_item('latents.reviews_minilm_v1', " + (
        "(SELECT min(item_id) FROM latents.reviews_minilm_v1), 3)"
    )
    found = cli("sql", sql, "--store", root, "--format", "csv")
    assert found.returncode == 0, found.stderr
    assert found.stdout.split()[-1] == "3"
    bad = cli("encode", "--model", "minilm", "--dataset", "reviews", "--upsample", "2",
              "--store", root)  # fmt: skip
    assert bad.returncode == 1 and "--upsample applies to digits only" in bad.stderr
