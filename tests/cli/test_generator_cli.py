"""The generator path through the CLI, in separate processes: a model without an encoder.

The decoder of a small trained β-VAE (bvae@1) stands in for a GAN: ``sample`` draws its prior,
``label`` lets a judge name what each decode shows, and then ``directions fit``, ``edit`` and
``evaluate`` run on the sampled table unchanged.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from latentops.storage import Store
from latentops.storage.latents import JUDGE_KEY, z_matrix

GRID = "-2,-1,0,1,2"


@pytest.fixture
def gen_store(posx_store, tmp_path):
    """A private copy of posx_store (bvae@1 and judge@1)."""
    dst = tmp_path / "store"
    shutil.copytree(posx_store, dst)
    return str(dst)


def _runner(cli, store):
    def run(*args: str) -> str:
        done = cli(*args, "--store", store)
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return " ".join(done.stdout.split())

    return run


def test_sample_label_fit_edit_evaluate_moves_the_judged_target(cli, gen_store):
    run, store = _runner(cli, gen_store), gen_store
    out = run("sample", "--model", "bvae", "--n", "300", "--seed", "3", "--table", "gen")
    assert "gen: 300 new samples of bvae@1 (seed 3; 0 already there), version 1" in out
    out = run("label", "--table", "gen", "--judge", "judge")
    assert "300 rows labelled by judge@1" in out

    s = Store.open(store)
    latents = s.latent_table("gen")
    card = latents.card
    assert (card["model"], card["seed"], card["source"]) == ("bvae@1", 3, "sampled from prior")
    assert card["model_sha256"] == s.models.card("bvae@1")["sha256"]
    rows = latents.read()
    assert rows["item_id"].to_pylist() == list(range(300))
    assert set(rows["dataset_fingerprint"].to_pylist()) == {"standard_normal:seed=3"}
    factors = sorted(s.judges.card("judge@1")["factors"])
    schema = latents.schema()
    for name in factors:  # one int column per judged factor, naming its judge, every row filled
        assert schema.field(name).metadata[JUDGE_KEY] == b"judge@1"
        assert rows[name].null_count == 0 and str(rows[name].type) == "int64"
    assert len(set(rows["pos_x"].to_pylist())) > 5  # the samples show many positions
    version = latents.version
    out = run("label", "--table", "gen", "--judge", "judge")  # nothing new to label: no commit
    assert "0 rows labelled" in out and latents.version == version

    run("directions", "fit", "--table", "gen", "--label", "pos_x", "--method", "ridge",
        "--name", "right")  # fmt: skip
    out = run("edit", "-t", "gen", "-d", "right", "--strengths", GRID, "--sample", "4")
    assert "20 new direction edits of gen" in out
    run("evaluate", "-t", "gen", "-d", "right", "-j", "judge", "--strengths", GRID,
        "--sample", "64")  # fmt: skip

    scores = {
        (r["metric"], r["strength"]): r["value"]
        for r in s.sql("SELECT metric, strength, value FROM scores").to_pylist()
    }
    target = [scores[("target.mean", float(v))] for v in GRID.split(",")]
    median_rho = scores[("semantics.item_spearman_median", None)]
    print(f"\njudged pos_x over strengths {GRID}: {np.round(target, 2)}; "
          f"per-item Spearman median {median_rho:.3f}, "
          f"mean {scores[('strength.item_spearman', None)]:.3f}")  # fmt: skip
    assert median_rho >= 0.9
    assert all(b > a for a, b in zip(target, target[1:], strict=False))
    # a sample has no real image of its own, so no reconstruction error is claimed
    assert not any(m == "fidelity.recon_mse" for m, _ in scores)


def test_sample_is_reproducible_and_a_larger_n_extends(cli, gen_store):
    run = _runner(cli, gen_store)
    run("sample", "--model", "bvae", "--n", "40", "--seed", "5", "--table", "once")
    run("sample", "--model", "bvae", "--n", "15", "--seed", "5", "--table", "grown")
    out = run("sample", "--model", "bvae", "--n", "40", "--seed", "5", "--table", "grown")
    assert "25 new samples" in out and "15 already there" in out

    s = Store.open(gen_store)
    once, grown = (s.latent_table(t).read() for t in ("once", "grown"))
    assert once["item_id"].to_pylist() == grown["item_id"].to_pylist() == list(range(40))
    z = z_matrix(once)  # (40, 6)
    np.testing.assert_array_equal(z, z_matrix(grown))  # bit for bit, in one go or extended
    assert z.shape == (40, 6) and np.isfinite(z).all()  # other seeds: tests/latent
    assert [h["operation"] for h in s.latent_table("grown").history()] == [
        "sample",
        "sample",
        "create",
    ]


@pytest.fixture
def bad_store(gen_store):
    """gen_store plus a model without a decoder (ident@1) and its table emb, a decoder without
    a prior (plain@1), a judge of 16 px images (small@1), and prior samples of bvae@1 (gen)."""
    import torch

    from latentops.evaluation import AttributePredictor, PredictorConfig
    from latentops.flows.sample import sample_flow
    from latentops.models import build_model
    from latentops.storage import Lineage
    from latentops.storage.latents import build_rows, latent_schema

    s = Store.open(gen_store)
    common = {"dataset": "dsprites", "dataset_fingerprint": "x", "metrics": {}}
    s.models.register("ident", build_model("identity", dim=6), train={}, **common)
    torch.manual_seed(0)
    s.models.register("plain", build_model("ae", latent_dim=6, image_size=32), train={}, **common)
    factors = s.judges.card("judge@1")["factors"]
    small = AttributePredictor(PredictorConfig(image_size=16, factor_sizes=factors))
    s.judges.register("small", small, dataset_options={}, train={}, **common)
    sample_flow("bvae", n=20, seed=0, table="gen", store=gen_store)
    emb = s.latents("emb")
    schema = latent_schema({}, with_logvar=False)
    emb.ensure(schema, {"kind": "latents", "d": 6, "model": "ident@1", "space": "imported"}, None)
    ids = np.arange(10)
    z = np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32)
    emb.insert(build_rows(schema, ids, z, {}, Lineage("ident@1", "x", "file", "x")), None)
    return gen_store


def test_bad_generator_input_answers_in_one_line_and_writes_nothing(cli, bad_store, table_versions):
    from concurrent.futures import ThreadPoolExecutor

    cases = [
        (["sample", "--model", "ident", "--n", "5"], "model ident@1 has no decoder"),
        (["sample", "--model", "plain", "--n", "5"], "declares prior 'none'"),
        (["sample", "--model", "nope", "--n", "5"], "nope"),
        (["sample", "--model", "bvae", "--n", "0"], "--n 0 must be at least 1"),
        (["sample", "--model", "bvae", "--n", "-3"], "--n -3 must be at least 1"),
        (["sample", "--model", "bvae", "--n", "5", "--seed", "-1"], "--seed -1"),
        (["sample", "--model", "bvae", "--n", "30", "--seed", "9", "--table", "gen"], "seed 0"),
        (["sample", "--model", "bvae", "--n", "30", "--table", "emb"], "holds latents of ident@1"),
        (["label", "--table", "gen", "--judge", "nope"], "nope"),
        (["label", "--table", "gen", "--judge", "small"], "shape (1, 16, 16)"),
        (["label", "--table", "emb", "--judge", "judge"], "model ident@1 has no decoder"),
        (["label", "--table", "missing", "--judge", "judge"], "missing"),
    ]
    before = table_versions(bad_store)
    assert {"latents/gen", "latents/emb"} <= set(before)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: cli(*case[0], "--store", bad_store), cases))
    for (args, fragment), done in zip(cases, results, strict=True):
        err = done.stderr.strip().splitlines()
        assert done.returncode == 1, f"{args}: exit {done.returncode}\n{done.stderr}"
        assert len(err) == 1 and err[0].startswith("error:"), f"{args}:\n{done.stderr}"
        assert fragment in err[0], f"{args}: {err[0]}"
    assert table_versions(bad_store) == before
