"""Direction catalog: immutable versions, lineage, export/import, SQL visibility, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from latentops.directions import Direction
from latentops.errors import CorruptArtifactError, NotFoundError
from latentops.storage import DirectionLineage

LINEAGE = DirectionLineage(
    space="mu",
    latent_table="toy",
    latent_table_version=3,
    model="vae@2",
    model_sha256="c" * 64,
    label_spec={"column": "shape", "op": "==", "value": 2},
    run_id="r1",
)


def _direction(seed=0, d=6):
    v = np.random.default_rng(seed).normal(size=d)
    return Direction(
        v,
        "logistic",
        params={"C": 1.0},
        metrics={"accuracy": 0.9},
        label="shape==2",
        kind="classification",
    )


def test_refit_creates_next_version_and_keeps_old(store):
    cat = store.directions
    r1 = cat.register("heart", _direction(0), LINEAGE)
    r2 = cat.register("heart", _direction(1), LINEAGE)
    assert (r1.version, r2.version) == (1, 2)
    d1, lin, pinned = cat.get("heart@1")
    np.testing.assert_allclose(d1.vector, _direction(0).vector)
    latest, _, pinned_latest = cat.get("heart")
    assert pinned_latest.version == 2
    assert lin == LINEAGE
    assert d1.metrics["accuracy"] == 0.9 and d1.params == {"C": 1.0}


def test_unknown_name_or_version(store):
    store.directions.register("heart", _direction(), LINEAGE)
    with pytest.raises(NotFoundError, match="unknown direction 'smile'; known: heart"):
        store.directions.get("smile")
    with pytest.raises(NotFoundError, match=r"versions \[1\], not 7"):
        store.directions.get("heart@7")


def test_export_import_round_trip(store, tmp_path):
    store.directions.register("heart", _direction(), LINEAGE)
    path = store.directions.export("heart@1", tmp_path / "out")
    assert path.name == "heart@1.safetensors"
    ref = store.directions.import_file(path, name="heart_copy")
    d, lineage, _ = store.directions.get(ref)
    np.testing.assert_array_equal(d.vector, _direction().vector)
    assert lineage.parent == "imported:heart@1"
    assert lineage.model == "vae@2" and lineage.space == "mu"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CorruptArtifactError, match="not a latentops direction file"):
        store.directions.import_file(bad)


def test_directions_are_queryable_in_sql(store):
    store.directions.register("heart", _direction(), LINEAGE)
    store.directions.register("heart", _direction(2), LINEAGE)
    out = store.sql(
        "SELECT name, version, method, latent_table_version, len(vector) AS d "
        "FROM directions ORDER BY version"
    ).to_pylist()
    assert [r["version"] for r in out] == [1, 2]
    assert out[0]["d"] == 6 and out[0]["latent_table_version"] == 3
