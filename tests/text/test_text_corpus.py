"""The procedural reviews corpus and users' text files: ids, factors, fingerprints, bad input."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from latentops.data import get_dataset
from latentops.data.reviews import N_GRID, TOPICS, sentence
from latentops.errors import InvalidInputError, NotFoundError


def test_reviews_deterministic_nested_and_fingerprinted():
    a, b = get_dataset("reviews", n_items=50), get_dataset("reviews", n_items=50)
    big = get_dataset("reviews", n_items=80)
    assert a.fingerprint == b.fingerprint != big.fingerprint
    assert np.isin(a.item_ids(), big.item_ids()).all()  # a larger n extends a smaller one
    assert a.texts(a.item_ids()) == b.texts(b.item_ids())
    assert get_dataset("reviews", n_items=50, seed=1).fingerprint != a.fingerprint
    assert len(set(a.texts(a.item_ids()))) == 50  # every grid index is its own sentence


def test_reviews_factors_follow_the_words():
    data = get_dataset("reviews", n_items=300)
    f = data.factors(data.item_ids())
    texts = data.texts(data.item_ids())
    assert set(f["topic"]) == set(TOPICS)
    assert set(np.unique(f["sentiment"])) == {-3, -2, -1, 1, 2, 3}
    assert (np.sign(f["sentiment"]) == 2 * f["polarity"] - 1).all()
    strong = [t for t, s in zip(texts, f["sentiment"], strict=True) if abs(s) == 3]
    assert all("absolutely" in t for t in strong)
    formal = [t for t, m in zip(texts, f["formality"], strict=True) if m == "formal"]
    assert all(t[0].isupper() and t.endswith(".") for t in formal)
    text, factors = sentence(N_GRID - 1)  # the last grid cell: sport, positive, strong, formal
    assert (factors["topic"], factors["sentiment"], factors["formality"]) == ("sport", 3, "formal")
    assert "fantastic" in text


def test_reviews_bad_options():
    with pytest.raises(InvalidInputError, match="n_items"):
        get_dataset("reviews", n_items=N_GRID + 1)
    with pytest.raises(InvalidInputError, match="seed"):
        get_dataset("reviews", seed=-1)


def test_text_file_csv_and_parquet(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text('id,review,stars\n7,"Great, really great",5\n3,awful,1\n')
    data = get_dataset("texts", path=csv, text_column="review", id_column="id",
                       label_columns=["stars"])  # fmt: skip
    assert data.item_ids().tolist() == [3, 7]
    assert data.texts(np.array([7])) == ["Great, really great"]
    assert data.factors(np.array([3]))["stars"].tolist() == [1]
    pq.write_table(pa.table({"text": ["un", "deux"]}), tmp_path / "mine.parquet")
    par = get_dataset("texts", path=tmp_path / "mine.parquet")
    assert par.texts(par.item_ids()) == ["un", "deux"]
    assert par.fingerprint != data.fingerprint


def test_text_file_bad_input(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text('text\nfine\n""\nok\n')
    with pytest.raises(InvalidInputError, match="row 1 is empty"):
        get_dataset("texts", path=empty)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text\nfine\ncaf\xe9 cr\xe8me\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match="line 3 is not UTF-8"):
        get_dataset("texts", path=latin)
    binary = tmp_path / "bytes.parquet"
    pq.write_table(pa.table({"text": pa.array([b"ok", b"\xff\xfe"], pa.binary())}), binary)
    with pytest.raises(InvalidInputError, match="row 1 is not UTF-8"):
        get_dataset("texts", path=binary)
    with pytest.raises(NotFoundError, match="no column"):
        get_dataset("texts", path=empty, text_column="review")


def test_training_on_texts_is_refused_before_anything_is_written(capsys, tmp_path):
    from latentops.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "reviews", "--store", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "holds texts" in err and "--model minilm" in err
    assert not (tmp_path / "s").exists()
