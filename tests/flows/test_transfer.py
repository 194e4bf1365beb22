"""Directions across model versions: a VAE and its retrained copy, through the CLI."""

from __future__ import annotations

import shutil

import pytest

from latentops.errors import InvalidInputError
from latentops.flows.directions import fit_directions_flow
from latentops.flows.encode import encode_flow
from latentops.flows.refit import refit_flow
from latentops.flows.train import train_flow
from latentops.flows.transfer import transfer_flow
from latentops.storage import Store
from latentops.storage.pins import pins
from latentops.tasks.transfer import carry_or_refit

OPTS = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset
SPECS = [
    {"name": "heart", "method": "logistic", "label": "shape==2"},
    {"name": "right", "method": "ridge", "label": "pos_x"},
]


@pytest.fixture(scope="module")
def pair(trained_store, tmp_path_factory):
    """vae@1 and its retrained copy vae@2 (another seed), each encoded over the same items,
    directions fitted on vae@1's table t1. Trained once per module; tests copy it."""
    root = tmp_path_factory.mktemp("pair") / "store"
    shutil.copytree(trained_store, root)
    ref = train_flow(
        dataset="dsprites",
        arch="vae",
        name="vae",
        store=str(root),
        dataset_options=OPTS,
        model_params={"latent_dim": 6, "beta": 2.0},
        epochs=2,
        batch_size=128,
        lr=2e-3,
        seed=1,
    )
    assert ref == "vae@2"
    for model, table in (("vae@1", "t1"), ("vae@2", "t2")):
        encode_flow(
            dataset="dsprites", model=model, table=table, store=str(root), dataset_options=OPTS
        )
    fit_directions_flow("t1", SPECS, store=str(root))
    return root


@pytest.fixture
def two_versions(pair, tmp_path):
    """A private copy of the pair's store."""
    shutil.copytree(pair, tmp_path / "store")
    return Store.open(tmp_path / "store")


def test_directions_carried_to_a_retrained_model_score_like_a_refit(
    two_versions, capsys, cli, table_versions
):
    store, root = two_versions, str(two_versions.root)
    gaps = {}
    for kind in ("procrustes", "affine"):
        for spec in SPECS:
            out = transfer_flow(f"{spec['name']}@1", "t2", kind=kind, store=root)
            gaps[kind, spec["name"]] = out["refit"] - out["carried"]
            carried, lineage, ref = store.directions.get(out["ref"])
            transfer = carried.params["transfer"]
            assert transfer["transferred_from"] == f"{spec['name']}@1"
            assert transfer["alignment"] == out["alignment"]
            assert (lineage.latent_table, lineage.parent, lineage.model) == (
                "t2",
                spec["name"] + "@1",
                "vae@2",
            )
            align, card = store.alignments.get(out["alignment"])
            assert (card["source_table"], card["target_table"], card["n_shared"]) == (
                "t1",
                "t2",
                1500,
            )
            assert card["kind"] == kind
            assert transfer["alignment_heldout_rel_error"] == align.metrics["heldout_rel_error"]
            # the recorded score is the carried vector's own, measured on t2
            assert carried.metrics[out["metric"]] == out["carried"]
            assert carried.metrics[f"refit_{out['metric']}"] == out["refit"]
    with capsys.disabled():
        print(f"\nrefit - carried (AUC for heart, R2 for right): {gaps}")
    # a retrained VAE is another space, yet both maps carry directions within 0.05 of a refit
    # (measured: |gap| <= 0.014; the carried vector can even beat the refit on held-out rows)
    assert all(abs(gap) < 0.05 for gap in gaps.values()), gaps
    assert ("alignment", "t1_to_t2@1") in {(p.kind, p.ref) for p in pins(store, "t2")}

    # Through the CLI, as users run it (one trained pair serves both halves: training is slow).
    encode_flow(
        dataset="dsprites",
        model="vae@2",
        table="few",
        store=root,
        dataset_options={**OPTS, "n_items": 5},
    )
    before = table_versions(root)
    bad = [
        (["heart@1", "--to-table", "nope"], "no latent table 'nope'"),
        (["nope@1", "--to-table", "t2"], "unknown direction 'nope'"),
        (["heart@1", "--to-table", "t2", "--map", "rigid"], "--map 'rigid' is not one of"),
    ]
    for args, message in bad:
        out = cli("directions", "transfer", *args, "--store", root)
        assert out.returncode == 1, out.stderr
        assert message in out.stderr + out.stdout
    with pytest.raises(InvalidInputError, match=r"only 5 shared item\(s\)"):
        transfer_flow("heart@1", "few", store=root)
    assert table_versions(root) == before  # nothing registered, no alignment, no direction

    out = cli("directions", "transfer", "right@1", "--to-table", "t2", "--store", root)
    assert out.returncode == 0, out.stderr
    assert "registered right@4 (transferred from right@1 via t1_to_t2@1" in out.stdout
    assert "refit from scratch" in out.stdout
    carried, lineage, _ = store.directions.get("right@4")
    assert carried.params["transfer"]["alignment"] == "t1_to_t2@1"  # reused, not refitted
    kinds = store.alignments.list().to_pydict()
    assert (kinds["version"], kinds["kind"]) == ([1, 2], ["procrustes", "affine"])
    assert lineage.latent_table == "t2"


def test_refit_moves_directions_to_the_new_model_carried_when_close_to_a_fresh_fit(
    two_versions,
):
    store, root = two_versions, str(two_versions.root)
    out = refit_flow(store=root, carry_tolerance=0.05)
    assert sorted(out["refit"]) == ["heart@2", "right@2"]
    assert out["parents"] == {"heart@2": "heart@1", "right@2": "right@1"}
    for summary in out["carried"]:
        assert summary["chosen"] == "carried"  # within 0.05 (measured gaps <= 0.014)
        assert summary["carried"] >= summary["refit"] - 0.05
        direction, lineage, _ = store.directions.get(summary["ref"])
        assert (lineage.latent_table, lineage.model) == ("t2", "vae@2")
        assert direction.params["transfer"]["chosen"] == "carried"
        assert direction.params["transfer"]["alignment"] == summary["alignment"]
    assert {s["alignment"] for s in out["carried"]} == {"t1_to_t2@1"}  # fitted once, reused
    again = refit_flow(store=root, carry_tolerance=0.05)  # idempotent: they live on t2 now
    assert again["refit"] == [] and again["carried"] == []

    # With no tolerance the better of the two wins, and the registered vector is that one.
    out = carry_or_refit.fn(root, "heart@1", "t2", tolerance=0.0)
    want = "carried" if out["carried"] >= out["refit"] else "refit"
    assert out["chosen"] == want
    direction, _, _ = store.directions.get(out["ref"])
    metrics = direction.metrics
    assert metrics[out["metric"]] == (out["carried"] if want == "carried" else out["refit"])
    if want == "refit":
        assert direction.params["carry"]["considered"] == "heart@1"
    with pytest.raises(InvalidInputError, match="carry_tolerance=-0.1 must be in"):
        refit_flow(store=root, carry_tolerance=-0.1)
