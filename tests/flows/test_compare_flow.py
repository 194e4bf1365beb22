"""The method bake-off: every applicable method on one snapshot, judged and ranked; refusals."""

from __future__ import annotations

import shutil

import pytest

from latentops.directions import fit_direction
from latentops.evaluation.bakeoff import rank_candidates, scorecard_summary
from latentops.flows.compare import compare_flow
from latentops.flows.encode import encode_flow
from latentops.flows.evaluate import train_judge_flow
from latentops.storage import Store
from latentops.storage.latents import z_matrix

SMALL = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset
GRID = [-2.0, 0.0, 2.0]


@pytest.fixture(scope="module")
def judged_store(trained_store, tmp_path_factory):
    """vae@1 encoded into table t, with a one-epoch judge@1 (shared, read-only base)."""
    root = tmp_path_factory.mktemp("compare") / "store"
    shutil.copytree(trained_store, root)
    encode_flow(
        dataset="dsprites", model="vae@1", table="t", store=str(root), dataset_options=SMALL
    )
    train_judge_flow("dsprites", name="judge", store=str(root), dataset_options=SMALL, epochs=1)
    return root


@pytest.fixture
def root(judged_store, tmp_path):
    dst = tmp_path / "store"
    shutil.copytree(judged_store, dst)
    return dst


def test_rank_is_the_mean_rank_over_criteria_with_unmeasured_last():
    rows = [
        {"direction": "a", "effect": 5.0, "leak": 0.1, "linearity": 0.9, "probe": 0.8},
        {"direction": "b", "effect": 6.0, "leak": 0.5, "linearity": 0.8, "probe": 0.9},
        {"direction": "c", "effect": 1.0, "leak": None, "linearity": 0.1, "probe": 0.1},
    ]
    ranked = rank_candidates(rows)
    # a: ranks 2,1,1,2 -> 1.5; b: 1,2,2,1 -> 1.5 (tie, b has the larger effect); c: 3,3,3,3
    assert [(r["direction"], r["mean_rank"], r["rank"]) for r in ranked] == [
        ("b", 1.5, 1),
        ("a", 1.5, 2),
        ("c", 3.0, 3),
    ]
    summary = scorecard_summary(
        {
            ("target.mean", -2.0): 3.0,
            ("target.mean", 2.0): 9.0,
            ("off_target.max", -2.0): 0.4,
            ("off_target.max", 2.0): 0.2,
            ("leak.shape", -2.0): 0.1,
            ("leak.shape", 2.0): 0.3,
            ("leak.scale", 2.0): 0.2,
            ("linearity.r2", None): 0.95,
        }
    )
    assert summary == {
        "effect": 6.0,
        "off_target": 0.4,
        "leak": 0.3,
        "linearity": 0.95,
        "calibration": None,
    }


def test_bakeoff_fits_every_method_on_one_split_ranks_and_registers_the_winner(
    root, read_artifacts
):
    out = compare_flow(
        "t", "pos_x", "judge", register_best=True, store=str(root), strengths=GRID, sample=48
    )
    store = Store.open(root)
    ranked = out["ranked"]
    # a continuous label: ridge plus every classifier on the top/bottom 30%
    assert sorted(r["method"] for r in ranked) == [
        "linear_svm top/bottom 30%",
        "logistic top/bottom 30%",
        "mean_diff top/bottom 30%",
        "ridge",
    ]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4]
    assert [r["mean_rank"] for r in ranked] == sorted(r["mean_rank"] for r in ranked)
    # every candidate is a version of pos_x_bakeoff, fitted on the same pinned snapshot
    rows = store.sql(
        "SELECT version, latent_table_version FROM directions WHERE name = 'pos_x_bakeoff'"
    )
    assert sorted(rows["version"].to_pylist()) == [1, 2, 3, 4]
    assert set(rows["latent_table_version"].to_pylist()) == {out["table_version"]}
    snap = store.latent_table("t").read(version=out["table_version"])
    z, y = z_matrix(snap), snap["pos_x"].to_numpy()
    for r in ranked:
        direction, _, _ = store.directions.get(r["direction"])
        assert direction.params["holdout"] == 0.2 and direction.params["seed"] == 0
        assert None not in (r["effect"], r["linearity"], r["leak"])
        # one probe for all: the vector's held-out R² on the same rows, even for classifiers
        measured = fit_direction(z, y, "manual", vector=direction.vector.tolist(), holdout=0.2)
        assert r["probe"] == pytest.approx(measured.metrics["r2"])
    # the winner: pos_x@1, its candidate version as parent and the table as the reason
    winner, lineage, _ = store.directions.get(out["registered"])
    assert out["registered"] == "pos_x@1" and lineage.parent == ranked[0]["direction"]
    assert winner.audit["bakeoff"]["winner"] == ranked[0]["direction"]
    assert len(winner.audit["bakeoff"]["table"]) == 4
    # the stored record the report reads, and the Prefect artifact
    stored = store.sql(
        "SELECT direction, value FROM scores WHERE kind = 'bakeoff' AND metric = 'bakeoff.rank'"
    ).to_pylist()
    assert {r["direction"]: r["value"] for r in stored} == {
        r["direction"]: float(r["rank"]) for r in ranked
    }
    assert any(str(ranked[0]["direction"]) in str(a.data) for a in read_artifacts("bakeoff-pos-x"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--label", "shape==7"], "single class"),
        (["--label", "shape==2", "--methods", "ridge"], "do not apply"),
        (["--label", "pos_x", "--methods", "pca"], "do not apply"),
        (["--label", "orientation"], "does not predict orientation"),
        (["--label", "colour"], "colour"),
    ],
)
def test_bad_input_exits_1_with_one_line_and_registers_nothing(
    root, cli, args, message, table_versions
):
    before = table_versions(root)
    out = cli("directions", "compare", "-t", "t", "-j", "judge", "--store", str(root), *args)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert table_versions(root) == before


def test_name_refuses_a_method_that_does_not_apply_and_registers_nothing(root, cli, table_versions):
    before = table_versions(root)
    out = cli(
        "directions", "name", "-t", "t", "-j", "judge", "--method", "logistic", "--store", str(root)
    )
    assert out.returncode == 1 and "does not apply" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert table_versions(root) == before


def test_disentangle_refuses_what_the_judge_cannot_see_and_registers_nothing(
    root, cli, table_versions
):
    from latentops.flows.directions import fit_directions_flow

    spec = {"name": "turn", "method": "ridge", "label": "orientation"}
    assert fit_directions_flow("t", [spec], store=str(root)) == ["turn@1"]
    before = table_versions(root)
    for args, message in (
        (["turn", "-j", "judge"], "does not predict orientation"),
        (["nosuch", "-j", "judge"], "nosuch"),
        (["turn", "-j", "nojudge"], "nojudge"),
    ):
        out = cli("directions", "disentangle", *args, "--store", str(root))
        assert out.returncode == 1, out.stdout + out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    assert table_versions(root) == before
