"""Users' own texts through ``latentops encode --texts``: refused in one line with nothing
written, or encoded with their labels and ids."""

from __future__ import annotations

from latentops.storage import Store


def test_encode_own_csv_after_refusing_bad_files(cli, tmp_path):
    root = tmp_path / "store"
    empty = tmp_path / "empty.csv"
    empty.write_text('text\nfine\n""\n')
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text\ncaf\xe9\n".encode("latin-1"))
    for path, message in ((empty, "row 1 is empty"), (latin, "line 2 is not UTF-8")):
        bad = cli("encode", "--model", "minilm", "--texts", str(path), "--store", str(root))
        assert bad.returncode == 1 and message in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
        assert not root.exists()  # checked before the store (or the model in it) is written
    good = tmp_path / "mine.csv"
    good.write_text('id,review,stars\n7,"Great, really great",5\n3,awful service,1\n9,okay,3\n')
    done = cli("encode", "--model", "minilm", "--texts", str(good), "--text-column", "review",
               "--text-labels", "stars", "--text-ids", "id", "--store", str(root))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = Store.open(root).latents("texts_minilm_v1").read(["item_id", "text", "stars"])
    assert rows.to_pydict() == {
        "item_id": [3, 7, 9],
        "text": ["awful service", "Great, really great", "okay"],
        "stars": [1, 5, 3],
    }
