"""Direction flows on real encoded latents: fit, refit, fit-all, lineage, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from latentops.errors import InvalidInputError, NotFoundError
from latentops.flows.directions import fit_all_flow, fit_directions_flow
from latentops.flows.encode import encode_flow

SMALL = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset


@pytest.fixture
def encoded(model_store):
    out = encode_flow(
        dataset="dsprites",
        model="vae@1",
        table="t",
        store=str(model_store.root),
        dataset_options=SMALL,
    )
    return model_store, out


def test_fit_registers_with_lineage_and_refit_bumps_version(encoded, read_artifacts):
    store, out = encoded
    spec = {"name": "right", "method": "ridge", "label": "pos_x"}
    (ref,) = fit_directions_flow("t", [spec], store=str(store.root))
    assert ref == "right@1"
    direction, lineage, _ = store.directions.get(ref)
    assert direction.method == "ridge" and direction.label == "pos_x"
    assert lineage.latent_table == "t" and lineage.latent_table_version == out["version"]
    assert lineage.model == "vae@1" and len(lineage.model_sha256) == 64
    assert lineage.run_id is not None and lineage.space == "mu"
    assert "r2" in direction.metrics
    # the run left a `directions-fit` artifact naming it (with the event re-evaluate reacts to)
    assert any(
        str(store.root) in str(a.data) and '"right@1"' in str(a.data)
        for a in read_artifacts("directions-fit")
    )
    (ref2,) = fit_directions_flow(
        "t", [{**spec, "method": "mean_diff", "label": "pos_x>15"}], store=str(store.root)
    )
    assert ref2 == "right@2"
    first, _, _ = store.directions.get("right@1")
    np.testing.assert_array_equal(first.vector, direction.vector)  # v1 untouched
    second, _, _ = store.directions.get("right@2")
    # The entanglement with other directions in the same space is recorded at fit time.
    assert second.label == "pos_x>15"
    rows = store.sql("SELECT name, version, method FROM directions ORDER BY version").to_pylist()
    assert [(r["name"], r["version"], r["method"]) for r in rows] == [
        ("right", 1, "ridge"),
        ("right", 2, "mean_diff"),
    ]


def test_entanglement_is_recorded_against_existing_directions(encoded):
    store, _ = encoded
    fit_directions_flow(
        "t", [{"name": "a", "method": "ridge", "label": "pos_x"}], store=str(store.root)
    )
    (ref,) = fit_directions_flow(
        "t", [{"name": "b", "method": "ridge", "label": "pos_y"}], store=str(store.root)
    )
    b, _, _ = store.directions.get(ref)
    a, _, _ = store.directions.get("a@1")
    assert b.metrics["cos/a@1"] == pytest.approx(a.cosine(b), abs=1e-6)


def test_fit_all_covers_every_factor_on_one_snapshot(encoded):
    store, out = encoded
    refs = fit_all_flow("t", store=str(store.root), methods=["logistic", "ridge"])
    names = {r.partition("@")[0] for r in refs}
    assert {
        "shape-0-logistic",
        "shape-1-logistic",
        "shape-2-logistic",
        "scale-ridge",
        "orientation-ridge",
        "pos_x-ridge",
        "pos_y-ridge",
    } == names
    versions = {store.directions.get(r)[1].latent_table_version for r in refs}
    assert versions == {out["version"]}


def test_pca_registers_components(encoded):
    store, _ = encoded
    refs = fit_directions_flow(
        "t", [{"name": "pc", "method": "pca", "params": {"n_components": 2}}], store=str(store.root)
    )
    assert refs == ["pc-pca0@1", "pc-pca1@1"]
    d0, _, _ = store.directions.get(refs[0])
    d1, _, _ = store.directions.get(refs[1])
    assert abs(d0.cosine(d1)) < 1e-5


@pytest.mark.parametrize(
    "spec, error, match",
    [
        ({"label": "shape==7", "method": "logistic"}, InvalidInputError, "single class"),
        ({"label": "colour==1", "method": "logistic"}, NotFoundError, "colour"),
        ({"label": None, "method": "ridge"}, InvalidInputError, "supervised"),
        ({"label": "pos_x", "method": "nope"}, InvalidInputError, "unknown direction method"),
    ],
)
def test_bad_fits_register_nothing(encoded, spec, error, match):
    store, _ = encoded
    with pytest.raises(error, match=match):
        fit_directions_flow("t", [{"name": "bad", **spec}], store=str(store.root))
    assert store.directions.list().num_rows == 0


def test_unknown_table_version_is_refused(encoded):
    store, _ = encoded
    with pytest.raises(NotFoundError, match="versions 0.."):
        fit_directions_flow(
            "t",
            [{"name": "x", "method": "ridge", "label": "pos_x"}],
            store=str(store.root),
            table_version=42,
        )


def test_fit_audits_near_duplicates_and_label_bias(encoded, cli, cli_env):
    store, _ = encoded
    root = str(store.root)
    fit_directions_flow("t", [{"name": "a", "method": "ridge", "label": "pos_x"}], store=root)
    (ref,) = fit_directions_flow(
        "t", [{"name": "b", "method": "ridge", "label": "pos_x", "params": {}}], store=root
    )
    b, _, _ = store.directions.get(ref)
    (top,) = [s for s in b.audit["similar"] if s["ref"] == "a@1"]
    assert top["cos"] == pytest.approx(1.0, abs=1e-4)  # the same fit under another name
    # dSprites factors are drawn independently: pos_x labels barely track the others
    assert set(b.audit["label_bias"]) == {"shape", "scale", "orientation", "pos_y"}
    assert max(b.audit["label_bias"].values()) < 0.2
    out = cli("directions", "list", "--store", root, env={**cli_env, "COLUMNS": "400"})
    assert out.returncode == 0, out.stderr
    assert "near-duplicate of a@1" in out.stdout
