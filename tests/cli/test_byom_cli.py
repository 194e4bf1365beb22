"""Bring your own model through the CLI, in separate processes, as a user runs it."""

from __future__ import annotations

import os

import numpy as np
import torch

from latentops.data import get_dataset
from latentops.storage import Store
from latentops.storage.latents import z_matrix
from tests.models._byom import weights, write_plugin, write_user_model


def _env(cli_env, user_dir):
    """The CLI's environment with the user's directory on PYTHONPATH."""
    return {**cli_env, "PYTHONPATH": os.pathsep.join([str(user_dir), cli_env["PYTHONPATH"]])}


def test_user_module_registered_checked_encoded_fitted_and_edited(cli, cli_env, tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    factory, cfg, w = write_user_model(user, latent_dim=4)
    env, store = _env(cli_env, user), str(tmp_path / "store")

    def run(*args):
        done = cli(*args, "--store", store, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return " ".join(done.stdout.split())

    wide = {**env, "COLUMNS": "300"}  # one option per line in rich's help box
    help_text = " ".join(cli("models", "register", "--help", env=wide).stdout.split())
    assert "IMPORTS AND RUNS YOUR CODE" in help_text and "never unpickled" in help_text
    out = run("models", "register", "--name", "mine", "--factory", factory, "--config", str(cfg),
              "--weights", str(w), "--dataset", "digits")  # fmt: skip
    assert "registered mine@1 (factory)" in out and "determinism" in out
    out = run("models", "check", "mine")
    assert "round trip" in out and "encode_items_per_s" in out and "False" not in out
    run("encode", "--model", "mine")
    run("directions", "fit", "--table", "digits_mine_v1", "--label", "digit==0", "--method",
        "logistic", "--name", "zero")  # fmt: skip
    run("edit", "-t", "digits_mine_v1", "-d", "zero@1", "--strengths", "-2:2:3", "--sample", "4")

    # z in the table is the user's linear encoder applied to the dataset, item by item
    s = Store.open(store)
    snap = s.latent_table("digits_mine_v1").read()
    data = get_dataset("digits")
    assert snap.num_rows == data.n_items
    ids = snap["item_id"].to_numpy()[:64]
    x = torch.cat([b.x for b in data.batches(64, np.sort(ids))]).flatten(1)  # (64, 64)
    state = weights(latent_dim=4)
    want = (x @ state["enc.weight"].T + state["enc.bias"]).numpy()
    got = z_matrix(snap, "z")[np.argsort(ids)][: len(ids)]
    np.testing.assert_allclose(got, want, atol=1e-5)
    edits = s.sql("SELECT strength, png FROM edits").to_pylist()
    assert len(edits) == 4 * 3 and all(r["png"] for r in edits)  # decoded by the user's decode
    card = s.models.card("mine@1")
    assert card["config"]["factory"] == factory and card["config"]["config"] == {"latent_dim": 4}


def test_entry_point_plugin_registers_and_checks(cli, cli_env, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    write_plugin(site, "tiny-ae")
    env, store = _env(cli_env, site), str(tmp_path / "store")
    done = cli("models", "register", "--name", "plug", "--entry-point", "tiny-ae", "--dataset",
               "digits", "--store", store, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = cli("models", "check", "plug", "--store", store, env=env)
    assert done.returncode == 0 and "determinism" in done.stdout, done.stderr
    card = Store.open(store).models.card("plug")
    assert card["config"]["source"] == "entry_point"
    assert card["config"]["entry_point"] == "tiny-ae"
    assert card["config"]["distribution"].endswith("==0.1")
    missing = cli("models", "register", "--name", "x", "--entry-point", "nope", "--store", store,
                  env=env)  # fmt: skip
    assert missing.returncode == 1 and "no entry point 'nope'" in missing.stderr
    assert "'tiny-ae'" in missing.stderr
