"""The encode flow under a real Prefect API: round trip, incremental, crash, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from latentops.data import get_dataset
from latentops.errors import InvalidInputError, NotFoundError
from latentops.flows.encode import encode_flow
from latentops.storage.latents import z_matrix

SMALL = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset


def test_encode_round_trip_matches_model(model_store):
    out = encode_flow(
        dataset="dsprites",
        model="vae",
        store=str(model_store.root),
        dataset_options=SMALL,
        chunk_size=500,
        batch_size=250,
    )
    assert out["table"] == "dsprites_vae_v1" and out["written"] == SMALL["n_items"]
    table = model_store.latent_table(out["table"])
    snap = table.read()
    data = get_dataset("dsprites", **SMALL)
    np.testing.assert_array_equal(snap["item_id"].to_numpy(), data.item_ids())
    # Factors are the dataset's ground truth, joined by item_id.
    truth = data.factors(snap["item_id"].to_numpy())
    for name, values in truth.items():
        np.testing.assert_array_equal(snap[name].to_numpy(), values)
    # Stored z equals model.encode on the same images (bit-for-bit on CPU).
    model, _ = model_store.models.load("vae@1")
    first = next(data.batches(250))  # same batches as the flow: conv results depend on batch size
    with torch.inference_mode():
        expect = model.encode(first.x).numpy()
    np.testing.assert_array_equal(z_matrix(snap)[:250], expect)
    assert "z_logvar" in snap.column_names
    assert snap["run_id"][0].as_py() is not None


def test_auto_batch_size_gives_the_same_latents_as_a_fixed_one(model_store):
    from latentops.models import fit_batch_size
    from latentops.storage.resources import _fitted_batch

    root = str(model_store.root)
    opts = {**SMALL, "n_items": 600}
    kwargs = {"dataset": "dsprites", "model": "vae@1", "store": root, "dataset_options": opts}
    fixed = encode_flow(table="fixed", chunk_size=600, batch_size=100, **kwargs)
    misses = _fitted_batch.cache_info().misses
    auto = encode_flow(table="auto", chunk_size=300, batch_size="auto", **kwargs)
    # Chosen once in this process (the probe task, then two chunks hit the cache), recorded.
    assert _fitted_batch.cache_info().misses == misses + 1
    model, _ = model_store.models.load("vae@1")
    assert auto["batch_size"] == fit_batch_size(model, device="cpu") and fixed["batch_size"] == 100
    assert auto["written"] == fixed["written"] == 600
    a, f = model_store.latent_table("auto").read(), model_store.latent_table("fixed").read()
    np.testing.assert_array_equal(a["item_id"].to_numpy(), f["item_id"].to_numpy())
    # Same weights, different batch shapes: conv sums may round differently in the last bits.
    np.testing.assert_allclose(z_matrix(a), z_matrix(f), rtol=1e-5, atol=1e-6)
    # Nothing left to encode: no model load or probe needed, so no size was chosen.
    again = encode_flow(table="auto", batch_size="auto", **kwargs)
    assert again["written"] == 0 and again["batch_size"] is None
    with pytest.raises(InvalidInputError, match="must be a positive integer or 'auto'"):
        encode_flow.fn(table="bad", batch_size=0, **kwargs)


def test_rerun_is_incremental_and_idempotent(model_store):
    root = str(model_store.root)
    small = {**SMALL, "n_items": 600}
    first = encode_flow(
        dataset="dsprites",
        model="vae@1",
        table="inc",
        store=root,
        dataset_options={**SMALL, "n_items": 400},
        chunk_size=300,
    )
    assert first["written"] == 400
    table = model_store.latent_table("inc")
    version = table.version
    again = encode_flow(
        dataset="dsprites",
        model="vae@1",
        table="inc",
        store=root,
        dataset_options={**SMALL, "n_items": 400},
        chunk_size=300,
    )
    assert again["written"] == 0 and table.version == version
    # A bigger subset of the same grid extends the smaller one: exactly the 200 new items.
    more = encode_flow(
        dataset="dsprites",
        model="vae@1",
        table="inc",
        store=root,
        dataset_options=small,
        chunk_size=300,
    )
    ids = table.item_ids()
    np.testing.assert_array_equal(ids, get_dataset("dsprites", **small).item_ids())
    assert more["planned"] == more["written"] == 200


def test_bad_inputs_leave_store_unchanged(model_store):
    root = str(model_store.root)
    encode_flow(
        dataset="dsprites",
        model="vae@1",
        table="t",
        store=root,
        dataset_options={**SMALL, "n_items": 100},
    )
    table = model_store.latent_table("t")
    version = table.version
    with pytest.raises(NotFoundError, match="versions"):
        encode_flow(dataset="dsprites", model="vae@9", table="t", store=root, dataset_options=SMALL)
    with pytest.raises(NotFoundError, match="unknown model 'nope'"):
        encode_flow(dataset="dsprites", model="nope", table="t", store=root, dataset_options=SMALL)
    with pytest.raises(InvalidInputError, match="not allowed"):
        encode_flow(
            dataset="dsprites", model="vae@1", table="../x", store=root, dataset_options=SMALL
        )
    with pytest.raises(NotFoundError, match="dataset"):
        encode_flow(dataset="cifar", model="vae@1", table="t", store=root, dataset_options={})
    for chunk_size in (0, -5):
        with pytest.raises(InvalidInputError, match=f"chunk_size={chunk_size} must be a positive"):
            encode_flow(
                dataset="dsprites",
                model="vae@1",
                table="t",
                store=root,
                dataset_options={**SMALL, "n_items": 200},
                chunk_size=chunk_size,
            )
    assert table.version == version


def test_diverged_model_is_refused_before_writing(model_store, diverged_model):
    with pytest.raises(InvalidInputError, match="NaN/inf"):
        encode_flow(
            dataset="dsprites",
            model=diverged_model,
            table="b",
            store=str(model_store.root),
            dataset_options={**SMALL, "n_items": 50},
        )
    assert not model_store.latents("b").exists()


def test_kill_mid_run_then_rerun_gives_each_item_once(model_store, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    root = str(model_store.root)
    opts = {"image_size": 32, "n_items": 6000}
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "latentops",
        "encode",
        "--model",
        "vae@1",
        "--table",
        "crash",
        "--image-size",
        "32",
        "--n-items",
        "6000",
        "--chunk-size",
        "200",
        "--batch-size",
        "100",
        "--store",
        root,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    table = model_store.latents("crash")
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if table.exists() and table.version >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, (
        f"encode finished before it could be killed: {proc.stderr.read()[-2000:]}"
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(table.item_ids())
    assert 0 < partial < opts["n_items"]
    encode_flow(dataset="dsprites", model="vae@1", table="crash", store=root, dataset_options=opts)
    ids = table.item_ids()
    np.testing.assert_array_equal(ids, get_dataset("dsprites", **opts).item_ids())


@pytest.mark.parametrize(
    "parts, expected",
    [
        (("dsprites", "demo-vae", "v1"), "dsprites_demo_vae_v1"),
        (("identity", "My-Docs.2"), "identity_my_docs_2"),
        (("9lives", "x"), "t_9lives_x"),
    ],
)
def test_generated_names_are_sql_identifiers_a_user_can_type(parts, expected):
    import duckdb

    from latentops.flows.encode import default_table_name
    from latentops.refs import generated_name

    name = generated_name(*parts)
    assert name == expected
    con = duckdb.connect()
    con.execute("CREATE SCHEMA latents")
    con.execute(f'CREATE TABLE latents."{name}" AS SELECT 1 AS shape')
    assert con.execute(f"SELECT shape, count(*) FROM latents.{name} GROUP BY shape").fetchall()
    assert default_table_name("dsprites", "demo-vae@1") == "dsprites_demo_vae_v1"
