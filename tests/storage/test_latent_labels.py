"""Judge label columns on a latent table (real Delta files): added, filled once, owned."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pytest

from latentops.errors import InvalidInputError
from latentops.storage import Lineage
from latentops.storage.latents import JUDGE_KEY, build_rows, factor_columns, latent_schema

LINEAGE = Lineage("gen@1", "ab" * 32, "prior", "standard_normal:seed=0", "run-1")
CARD = {"kind": "latents", "d": 3, "model": "gen@1", "space": "z", "seed": 0}


def _samples(table, ids, factors=None):
    """Insert rows for ``ids`` with the table's own schema (label columns empty), like sample."""
    ids = np.asarray(ids, np.int64)
    z = np.random.default_rng(int(ids[0])).normal(size=(len(ids), 3)).astype(np.float32)
    if table.exists():
        schema = table.schema()
        factors = {c: np.full(len(ids), None, object) for c in factor_columns(schema)}
    else:
        factors = factors or {}
        schema = latent_schema(factors, with_logvar=False)
    table.ensure(schema, CARD, "run-1")
    return table.insert(build_rows(schema, ids, z, factors, LINEAGE), "run-1")


def _labels(ids, offset=0):
    ids = np.asarray(ids, np.int64)
    return pa.table({"item_id": ids, "pos_x": ids % 7 + offset, "shape": ids % 3 + offset})


def test_labels_are_added_filled_once_and_name_their_judge(store):
    table = store.latents("gen")
    _samples(table, range(20))
    assert table.add_labels(_labels(range(10)), "judge@1", "run-2") == 10
    schema = table.schema()
    assert schema.field("pos_x").metadata[JUDGE_KEY] == b"judge@1"
    assert table.card == CARD  # adding columns kept the card
    np.testing.assert_array_equal(table.unlabelled(["pos_x", "shape"], "judge@1"), range(10, 20))
    # a repeated run labels only what is missing: rows 0..9 keep their first labels
    assert table.add_labels(_labels(range(20), offset=100), "judge@1", "run-3") == 10
    rows = table.read(["item_id", "pos_x", "shape"])
    ids = np.arange(20)
    np.testing.assert_array_equal(rows["pos_x"].to_numpy(), ids % 7 + np.where(ids < 10, 0, 100))
    assert len(table.unlabelled(["pos_x", "shape"], "judge@1")) == 0
    # samples drawn after labelling get empty labels, and only they are left to label
    assert _samples(table, range(20, 25)) == 5
    np.testing.assert_array_equal(table.unlabelled(["pos_x", "shape"], "judge@1"), range(20, 25))
    before = table.version
    np.testing.assert_array_equal(table.unlabelled(["pos_x"], "judge@1", version=1), range(20))
    assert table.version == before


def test_concurrent_label_runs_label_each_row_once(store):
    table = store.latents("gen")
    _samples(table, range(200))
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(
            pool.map(
                lambda k: table.add_labels(_labels(range(200), 100 * k), "judge@1", f"r{k}"),
                [1, 2],
            )
        )
    assert sum(done) == 200
    rows = table.read(["item_id", "pos_x", "shape"])
    offset = rows["pos_x"].to_numpy() - np.arange(200) % 7
    assert set(offset) <= {100, 200}
    # each row's labels all come from one run
    np.testing.assert_array_equal(rows["shape"].to_numpy() - np.arange(200) % 3, offset)


def test_label_columns_owned_by_others_are_refused(store, table_versions):
    table = store.latents("gen")
    _samples(table, range(10), factors={"shape": np.zeros(10, np.int64)})  # ground truth
    table.add_labels(_labels(range(10)).select(["item_id", "pos_x"]), "judge@1", None)
    before = table_versions(store.root)
    cases = [
        (_labels(range(10)), "judge@1", "'shape' holding labels of its own"),
        (_labels(range(10)).select(["item_id", "pos_x"]), "other@1", "judge judge@1's predic"),
        (pa.table({"item_id": np.arange(3), "z": np.zeros(3, np.int64)}), "j@1", "clashes"),
        (pa.table({"item_id": np.arange(3), "a b": np.zeros(3, np.int64)}), "j@1", "identifier"),
    ]
    for labels, judge, match in cases:
        with pytest.raises(InvalidInputError, match=match):
            table.add_labels(labels, judge, None)
    assert table_versions(store.root) == before
