"""latent_delta('t', v1, v2) in SQL equals a pyarrow set difference of the two versions."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from latentops.errors import InvalidInputError
from latentops.storage import Lineage
from latentops.storage.latents import build_rows, latent_schema
from latentops.storage.maintain import maintain_table

LINEAGE = Lineage("vae@1", "ab" * 32, "toy", "f" * 64, "run-1")


def _insert(table, ids):
    ids = np.asarray(ids, np.int64)
    z = np.random.default_rng(int(ids[0])).normal(size=(len(ids), 4)).astype(np.float32)
    factors = {"shape": ids % 3}
    schema = latent_schema(factors, with_logvar=False)
    table.ensure(schema, {"kind": "latents", "d": 4, "model": "vae@1"}, None)
    table.insert(build_rows(schema, ids, z, factors, LINEAGE), None)


def _expected(table, v1, v2):
    """(inserted, removed) item ids between v1 and v2, by pyarrow set difference."""
    a = table.read(["item_id"], version=v1)["item_id"]
    b = table.read(["item_id"], version=v2)["item_id"]
    inserted = pc.filter(b, pc.invert(pc.is_in(b, value_set=a.combine_chunks())))
    removed = pc.filter(a, pc.invert(pc.is_in(a, value_set=b.combine_chunks())))
    return sorted(inserted.to_pylist()), sorted(removed.to_pylist())


def test_latent_delta_equals_a_pyarrow_set_difference(store):
    table = store.latents("toy")
    for start in (0, 50, 100, 150):  # versions 1..4
        _insert(table, range(start, start + 50))
    # drop some rows (as `tables repair` would), then compact: files rewritten, same ids
    DeltaTable(table.uri).delete("item_id % 7 = 0 AND item_id < 120")  # version 5
    maintain_table(store, "toy", older_than=timedelta(days=1))  # version 6 (compaction)
    _insert(table, range(200, 230))  # version 7
    assert table.version == 7
    for v1, v2 in [(1, 4), (2, 5), (4, 6), (5, 6), (3, 7), (7, 1), (0, 7), (6, 6)]:
        got = store.sql(
            "SELECT item_id, change FROM latent_delta(?, ?, ?) ORDER BY item_id",
            ["latents.toy" if v1 % 2 else "toy", v1, v2],
        )
        inserted, removed = _expected(table, v1, v2)
        rows = got.to_pylist()
        assert [r["item_id"] for r in rows if r["change"] == "inserted"] == inserted
        assert [r["item_id"] for r in rows if r["change"] == "removed"] == removed
    counts = store.sql("SELECT change, count(*) AS n FROM latent_delta('toy', 4, 7) GROUP BY 1")
    assert dict(zip(*counts.sort_by("change").to_pydict().values(), strict=True)) == {
        "inserted": 30,
        "removed": len([i for i in range(120) if i % 7 == 0]),
    }
    assert store.sql("SELECT * FROM latent_delta('toy', 6, 6)").num_rows == 0
    assert isinstance(got, pa.Table)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", 0, 1], "no latent table 'nope'"),
        (["toy", 0, 9], r"has versions 0\.\.1, not 9"),
    ],
)
def test_latent_delta_refuses_unknown_tables_and_versions(store, args, message):
    _insert(store.latents("toy"), range(10))
    with pytest.raises(InvalidInputError, match=f"SQL failed: .*{message}"):
        store.sql("SELECT * FROM latent_delta(?, ?, ?)", args)
