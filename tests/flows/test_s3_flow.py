"""The real encode, directions and report flows on an s3:// store (moto), against a local one."""

from __future__ import annotations

import numpy as np
import pytest

from latentops.flows.directions import fit_directions_flow
from latentops.flows.encode import encode_flow
from latentops.flows.report import report_flow
from latentops.storage import Location, Store
from latentops.storage.latents import z_matrix

SMALL = {"image_size": 32, "n_items": 600}  # a prefix of the trained_store fixture's dataset
RIDGE = {"name": "right", "method": "ridge", "label": "pos_x"}
REPORT = {"n_items": 2, "n_recon": 4, "max_dims": 2, "map_points": 200, "projection": "pca"}


@pytest.fixture
def s3_store(s3_bucket, trained_store):
    """An S3 store holding the trained store's vae@1 as s3vae@1: same weights, same sha256.

    Its own name keeps its Prefect artifacts (keyed by model) apart from the local tests'.
    """
    model, card = Store.open(trained_store).models.load("vae@1")
    store = Store.open(f"s3://{s3_bucket}/store")
    ref = store.models.register(
        "s3vae",
        model,
        dataset=card["dataset"],
        dataset_fingerprint=card["dataset_fingerprint"],
        train=card["train"],
        metrics=card["metrics"],
    )
    assert str(ref) == "s3vae@1" and store.models.card(ref)["sha256"] == card["sha256"]
    return store


def test_encode_fit_and_report_on_s3_match_a_local_store(s3_store, model_store):
    kwargs = {
        "dataset": "dsprites",
        "table": "t",
        "dataset_options": SMALL,
        "chunk_size": 300,
        "batch_size": 100,
    }
    remote = encode_flow(store=str(s3_store.root), model="s3vae@1", **kwargs)
    local = encode_flow(store=str(model_store.root), model="vae@1", **kwargs)
    assert remote["written"] == local["written"] == SMALL["n_items"]
    a, b = s3_store.latent_table("t").read(), model_store.latent_table("t").read()
    np.testing.assert_array_equal(a["item_id"].to_numpy(), b["item_id"].to_numpy())
    np.testing.assert_array_equal(z_matrix(a), z_matrix(b))  # same weights, same batches
    np.testing.assert_array_equal(z_matrix(a, "z_logvar"), z_matrix(b, "z_logvar"))
    version = s3_store.latent_table("t").version
    again = encode_flow(store=str(s3_store.root), model="s3vae@1", **kwargs)
    assert again["written"] == 0 and s3_store.latent_table("t").version == version

    (ref,) = fit_directions_flow("t", [RIDGE], store=str(s3_store.root))
    (local_ref,) = fit_directions_flow("t", [RIDGE], store=str(model_store.root))
    assert ref == local_ref == "right@1"
    direction, lineage, _ = Store.open(str(s3_store.root)).directions.get(ref)
    expected, _, _ = model_store.directions.get(local_ref)
    np.testing.assert_allclose(direction.vector, expected.vector, rtol=1e-6, atol=1e-7)
    assert lineage.latent_table == "t" and lineage.latent_table_version == version
    assert lineage.model == "s3vae@1"
    assert lineage.model_sha256 == s3_store.models.card("s3vae@1")["sha256"]
    n = s3_store.sql("SELECT count(*) AS n FROM latents.t WHERE split = 'train'")["n"][0].as_py()
    assert n == int((a["split"].to_numpy() == "train").sum())

    # the HTML report lands in the store's reports/ prefix, as it does in a local store
    out = report_flow(store=str(s3_store.root), options=REPORT)
    assert out["path"] == f"{s3_store.root}/reports/s3vae-v1/report.html"
    html = Location.of(out["path"]).read_text()
    assert html.startswith("<!DOCTYPE html>") and out["bytes"] == len(html.encode())
    assert out["table"] == "t" and out["rows"] == SMALL["n_items"] and out["directions"] == 1


def test_dask_workers_share_an_s3_store_exactly_once(s3_store, model_store):
    """Scale-out as on several machines: worker processes that share nothing but the bucket.

    The workers start after the AWS_* environment is set, as a remote worker would be
    configured. One process first encodes another, overlapping subset; the cluster then adds
    only the missing items, and a second sharded run adds none.
    """
    pytest.importorskip("prefect_dask")
    from distributed import LocalCluster
    from prefect_dask import DaskTaskRunner

    from latentops.data import get_dataset

    first, full = {**SMALL, "n_items": 200}, SMALL
    kwargs = {"dataset": "dsprites", "table": "t", "chunk_size": 150, "batch_size": 75}
    encode_flow(store=str(s3_store.root), model="s3vae@1", dataset_options=first, **kwargs)
    ids_first = get_dataset("dsprites", **first).item_ids()
    ids_full = get_dataset("dsprites", **full).item_ids()
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        runner = DaskTaskRunner(address=cluster.scheduler_address)
        sharded = encode_flow.with_options(task_runner=runner)
        out = sharded(store=str(s3_store.root), model="s3vae@1", dataset_options=full, **kwargs)
        again = sharded(store=str(s3_store.root), model="s3vae@1", dataset_options=full, **kwargs)
    assert out["planned"] == out["written"] == len(np.setdiff1d(ids_full, ids_first))
    assert again["written"] == 0
    stored = s3_store.latent_table("t").read()
    ids = stored["item_id"].to_numpy()
    assert len(ids) == len(np.unique(ids)) == len(np.union1d(ids_first, ids_full))  # once each

    encode_flow(store=str(model_store.root), model="vae@1", dataset_options=full, **kwargs)
    local = model_store.latent_table("t").read()
    pos = np.searchsorted(ids, local["item_id"].to_numpy(), sorter=np.argsort(ids))
    same = np.argsort(ids)[pos]
    np.testing.assert_array_equal(ids[same], local["item_id"].to_numpy())
    # single-threaded workers round float32 convolutions differently from a 2-thread process
    np.testing.assert_allclose(z_matrix(stored)[same], z_matrix(local), rtol=1e-5, atol=1e-6)
