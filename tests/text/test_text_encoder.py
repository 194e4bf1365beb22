"""The packaged MiniLM encoder: equal to sentence-transformers, offline, fingerprinted."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from latentops.errors import InvalidInputError, UnsupportedOperationError
from latentops.models import require
from latentops.storage import Store
from latentops.storage.pretrained import DISTRIBUTION, package_files

SENTENCES = [
    "The pizza at the new bistro was absolutely fantastic!",
    "honestly the flight to Lisbon was really bad lol",
    "A quiet, well-written memoir.",
    "Überraschend gut: the headset works.",
    "word " * 400,  # longer than the 256-token window: truncated like sentence-transformers
]


def test_encodings_equal_sentence_transformers_offline(minilm, tmp_path):
    import importlib.metadata

    from sentence_transformers import SentenceTransformer

    zip_path = importlib.metadata.distribution(DISTRIBUTION).locate_file(
        "all_minilm_l6_v2/model.zip"
    )
    zipfile.ZipFile(zip_path).extractall(tmp_path)
    reference = SentenceTransformer(str(tmp_path), device="cpu").encode(SENTENCES)
    with torch.inference_mode():
        ours = minilm.encode(SENTENCES).numpy()
    assert ours.shape == (len(SENTENCES), 384)
    norms = np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    cos = (ours * reference).sum(1) / norms
    assert cos.min() >= 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_spec_is_text_encoder_only(minilm):
    assert (minilm.spec.d, minilm.spec.input_kind, minilm.spec.input_shape) == (384, "text", ())
    assert not minilm.capabilities.decodes
    with pytest.raises(UnsupportedOperationError, match="decoder"):
        require(minilm, "decodes", "minilm@1", "decoding", "decode by retrieval")
    with pytest.raises(UnsupportedOperationError, match="retriev"):
        minilm.decode(torch.zeros(1, 384))


def test_window_truncation_is_flagged(minilm):
    assert minilm.truncated(SENTENCES).tolist() == [False, False, False, False, True]


@pytest.mark.parametrize("bad", [["fine", ""], ["   "], "one string", [None]])
def test_bad_texts_refused(minilm, bad):
    with pytest.raises(InvalidInputError, match="empty|list of texts"):
        minilm.encode(bad)


def test_registered_card_has_fingerprint_and_reloads_equal(minilm, tmp_path):
    store = Store.open(tmp_path / "s")
    ref = store.models.register_pretrained("minilm")
    card = store.models.card(ref)
    files = package_files()
    import hashlib

    assert card["config"]["package_weights_sha256"] == hashlib.sha256(files.weights).hexdigest()
    assert card["fingerprint"]["weights_sha256"] == card["sha256"]
    assert card["fingerprint"]["code"].startswith("pretrained minilm:")
    assert store.models.spec(card).input_kind == "text"
    assert not store.models.capabilities(card).decodes
    loaded, _ = store.models.load(ref)
    with torch.inference_mode():
        assert torch.equal(loaded.encode(SENTENCES[:3]), minilm.encode(SENTENCES[:3]))
    # the first use of the name in a store registers it once; later uses find it
    assert store.models.resolve("minilm")["ref"] == "minilm@1"


def test_model_check_passes_on_probe_sentences(minilm):
    from latentops.models import check_model, probe_batch

    report = check_model(minilm, probe_batch(minilm, n=4))
    assert report.ok, report.checks
    assert [c.name for c in report.checks] == ["output shape", "dtype", "finite", "determinism"]
