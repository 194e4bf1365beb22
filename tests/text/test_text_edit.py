"""Retrieval decoding of text edits: the decoder's maths and edits rows with sentences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentops.errors import InvalidInputError
from latentops.models import RetrievalDecoder, decode_with_fidelity
from latentops.storage import Store


def test_retrieval_returns_nearest_other_sentence():
    corpus = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    dec = RetrievalDecoder(corpus, np.array([10, 11, 12]), ["a", "b", "c"])
    out = dec.decode_texts(torch.tensor([[2.0, 0.1], [0.1, 1.0]]))
    assert out.text == ["a", "c"] and out.item_id.tolist() == [10, 12]
    cos = 2.0 / np.hypot(2.0, 0.1)
    assert out.distance[0] == pytest.approx(1 - cos, abs=1e-6)
    own = dec.decode_texts(torch.tensor([[1.0, 0.0]]), exclude=np.array([10]))
    assert own.item_id.tolist() == [11]  # the source item is never its own decode
    assert own.neighbours.tolist() == [[11, 12]]  # the k nearest, nearest first, source left out
    assert out.neighbours[:, 0].tolist() == out.item_id.tolist()
    two = RetrievalDecoder(corpus, np.array([10, 11, 12]), ["a", "b", "c"], k=1)
    assert two.decode_texts(torch.tensor([[1.0, 0.0]])).neighbours.tolist() == [[10]]
    with pytest.raises(InvalidInputError, match="d=2"):
        dec.decode_texts(torch.zeros(1, 3))
    with pytest.raises(InvalidInputError, match="at least 2"):
        RetrievalDecoder(corpus[:1], np.array([1]), ["a"])
    with pytest.raises(InvalidInputError, match="k >= 1"):
        RetrievalDecoder(corpus, np.array([10, 11, 12]), ["a", "b", "c"], k=0)


def test_fidelity_is_the_round_trip_cosine(minilm):
    texts = ["the soup was really good", "the laptop was absolutely awful"]
    with torch.inference_mode():
        corpus = minilm.encode(texts)
    dec = RetrievalDecoder(corpus, np.array([0, 1]), texts)
    z = corpus[[0]] + 0.3 * corpus[[1]]  # an edit between the two
    out = decode_with_fidelity(dec, minilm.encode, z)
    want = torch.nn.functional.cosine_similarity(corpus[[0]], z).item()
    assert out.text == texts[:1]
    assert out.fidelity[0] == pytest.approx(want, abs=1e-5)
    assert out.fidelity[0] == pytest.approx(1 - out.distance[0], abs=1e-5)


def test_edit_flow_stores_retrieved_sentences(text_store, prefect_harness):
    from latentops.flows.directions import fit_directions_flow
    from latentops.flows.edit import edit_flow

    root = str(text_store)
    spec = {"name": "positive", "method": "logistic", "label": "polarity"}
    (ref,) = fit_directions_flow("reviews_minilm_v1", [spec], store=root)
    out = edit_flow("reviews_minilm_v1", [ref], strengths=[-2.0, 0.0, 2.0], sample=12,
                    where="split = 'test'", store=root)  # fmt: skip
    assert out["written"] == 36
    store = Store.open(root)
    rows = store.edits.read(["item_id", "strength", "text", "text_item_id", "fidelity", "png"])
    assert rows.num_rows == 36 and rows["png"].null_count == 36
    assert rows["text"].null_count == 0
    assert (np.array(rows["text_item_id"].to_pylist()) != rows["item_id"].to_numpy()).all()
    fid = np.array(rows["fidelity"].to_pylist())
    assert ((fid > 0.3) & (fid <= 1.0 + 1e-6)).all()
    # the polarity of the retrieved sentence follows the strength's sign for most items
    table = store.latents("reviews_minilm_v1").read(["item_id", "polarity"])
    polarity = dict(zip(table["item_id"].to_pylist(), table["polarity"].to_pylist(), strict=True))
    strength = np.array(rows["strength"].to_pylist())
    got = np.array([polarity[t] for t in rows["text_item_id"].to_pylist()])
    assert (got[strength == 2.0] == 1).mean() >= 0.8
    assert (got[strength == -2.0] == 0).mean() >= 0.8


def test_an_edits_table_from_before_text_gains_the_text_columns(tmp_path):
    from latentops.models import DecodedTexts
    from latentops.storage import _delta
    from latentops.storage.edits import SCHEMA, EditSource, EditsTable, build_edit_rows

    old = SCHEMA
    for name in ("fidelity", "text_distance", "text_item_id", "text"):
        old = old.remove(old.get_field_index(name))
    uri = str(tmp_path / "edits")
    _delta.create(uri, old, {"kind": "edits"}, None)
    source = EditSource("minilm@1", "sha", "t", 1)
    texts = DecodedTexts(["hi"], np.array([2]), np.array([0.1]), np.array([0.9]))
    z = np.zeros((1, 3), np.float32)
    rows = build_edit_rows("direction", [1], z, [1.0], [0], source, texts=texts)
    assert EditsTable(uri).insert(rows, None) == 1
    got = EditsTable(uri).read(["item_id", "text", "text_item_id", "fidelity"]).to_pylist()
    assert got == [{"item_id": 1, "text": "hi", "text_item_id": 2, "fidelity": 0.9}]
    assert _delta.card_of(_delta.delta_table(uri)) == {"kind": "edits"}  # the card survives
