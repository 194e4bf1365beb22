"""The store on S3-compatible object storage, against a real moto server (no mocks)."""

from __future__ import annotations

import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor

import boto3
import numpy as np
import pytest
import torch
from deltalake import DeltaTable

from latentops.directions import Direction
from latentops.errors import CorruptArtifactError, InvalidInputError, NotFoundError
from latentops.models import build_model
from latentops.storage import DirectionLineage, Lineage, Location, Store, StoreAccessError, ann
from latentops.storage._location import storage_options_for
from latentops.storage.latents import build_rows, latent_schema, z_matrix
from latentops.storage.snapshot import load_snapshot

LINEAGE = Lineage("vae@1", "ab" * 32, "toy", "f" * 64, "run-1")
CARD = {"kind": "latents", "d": 4, "model": "vae@1", "space": "mu"}


def _write(table, ids, d=4, seed=0):
    ids = np.asarray(ids, np.int64)
    z = np.random.default_rng(seed).normal(size=(len(ids), d)).astype(np.float32)
    factors = {"shape": ids % 3}
    schema = latent_schema(factors, with_logvar=False)
    table.ensure(schema, {**CARD, "d": d}, "run-1")
    return table.insert(build_rows(schema, ids, z, factors, LINEAGE), "run-1"), z


def _objects(bucket):
    """{key: bytes} of every object in the bucket, read with boto3 (not latentops)."""
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def _vae(seed=0):
    return build_model("vae", latent_dim=4, beta=2.0, in_channels=1, image_size=32, seed=seed)


def _register(store, model):
    meta = {"dataset": "toy", "dataset_fingerprint": "f" * 64, "train": {}, "metrics": {}}
    return store.models.register("vae", model, **meta)


def test_open_creates_reopens_and_refuses_a_foreign_prefix(s3_bucket):
    uri = f"s3://{s3_bucket}/store"
    with pytest.raises(NotFoundError, match="no latentops store at s3://"):
        Store.open(uri, create=False)
    store = Store.open(uri)
    assert str(store.root) == uri and repr(store) == f"Store('{uri}')"
    assert json.loads(_objects(s3_bucket)["store/latentops.json"]) == {"format": 1}
    assert str(Store.open(uri + "/", create=False).root) == uri  # same store, trailing slash
    assert store.latent_tables() == [] and store.directions.list().num_rows == 0
    boto3.client("s3").put_object(Bucket=s3_bucket, Key="other/data.csv", Body=b"a,b\n")
    with pytest.raises(InvalidInputError, match="not a latentops store"):
        Store.open(f"s3://{s3_bucket}/other")
    boto3.client("s3").put_object(Bucket=s3_bucket, Key="bad/latentops.json", Body=b"{nope")
    with pytest.raises(CorruptArtifactError, match="is not a latentops store marker"):
        Store.open(f"s3://{s3_bucket}/bad")


def test_latent_table_round_trip_exactly_once_and_time_travel(s3_bucket):
    store = Store.open(f"s3://{s3_bucket}/store")
    table = store.latents("toy")
    assert table.uri == f"s3://{s3_bucket}/store/latents/toy"
    inserted, z = _write(table, range(60))
    v1 = table.version
    again, _ = _write(table, range(30, 90), seed=1)  # 30 new ids, 30 already there
    assert (inserted, again) == (60, 30) and table.version == v1 + 1
    snap = table.read()
    np.testing.assert_array_equal(snap["item_id"].to_numpy(), np.arange(90))
    np.testing.assert_array_equal(z_matrix(snap)[:60], z)  # first writer's z kept, bit for bit
    old = table.read(version=v1)
    assert old.num_rows == 60 and store.latent_tables() == ["toy"]
    assert [h["rows_added"] for h in table.history()[:2]] == [30, 60]
    # stock deltalake reads the same table with nothing but the environment's endpoint
    plain = DeltaTable(table.uri, storage_options={"AWS_ALLOW_HTTP": "true"})
    assert plain.version() == table.version and len(plain.to_pyarrow_table()) == 90


def test_model_registry_bit_for_bit_and_corrupt_checkpoint(s3_bucket):
    store = Store.open(f"s3://{s3_bucket}/store")
    model = _vae()
    ref = _register(store, model)
    card = store.models.card(ref)
    key = f"store/{card['checkpoint']}"
    assert key == f"store/checkpoints/{card['sha256']}.safetensors"
    loaded, _ = Store.open(str(store.root)).models.load("vae@1")
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    # the same weights registered again share one content-addressed object
    _register(store, model)
    assert [k for k in _objects(s3_bucket) if "/checkpoints/" in k] == [key]
    s3 = boto3.client("s3")
    data = bytearray(_objects(s3_bucket)[key])
    data[-8:] = b"\x00" * 8
    s3.put_object(Bucket=s3_bucket, Key=key, Body=bytes(data))
    with pytest.raises(CorruptArtifactError, match="does not match its sha256"):
        store.models.load("vae@1")
    s3.delete_object(Bucket=s3_bucket, Key=key)
    with pytest.raises(NotFoundError, match="is missing"):
        store.models.load("vae@2")


def test_direction_catalog_versions_and_lineage(s3_bucket):
    cat = Store.open(f"s3://{s3_bucket}/store").directions
    lineage = DirectionLineage(latent_table="toy", latent_table_version=1, model="vae@1")
    v = np.random.default_rng(0).normal(size=6)
    r1 = cat.register("heart", Direction(v, "manual"), lineage)
    r2 = cat.register("heart", Direction(-v, "manual"), lineage)
    assert (str(r1), str(r2)) == ("heart@1", "heart@2")
    d1, lin, pinned = cat.get("heart@1")
    np.testing.assert_allclose(d1.vector, v / np.linalg.norm(v), rtol=1e-6)
    assert lin.model == "vae@1" and str(pinned) == "heart@1"
    assert cat.list()["version"].to_pylist() == [1, 2]


def test_sql_knn_index_and_report_on_s3(s3_bucket):
    from latentops.tasks.report import write_report

    store = Store.open(f"s3://{s3_bucket}/store")
    _, z = _write(store.latents("toy"), range(400), d=8)
    got = store.sql("SELECT shape, count(*) AS n FROM latents.toy GROUP BY shape ORDER BY shape")
    assert got["n"].to_pylist() == [134, 133, 133]
    # exact kNN against numpy: the nearest item to z[7] (itself left out)
    out = store.knn("toy", item_id=7, k=3, metric="l2")
    dist = np.linalg.norm(z - z[7], axis=1)
    dist[7] = np.inf
    assert out["item_id"].to_pylist() == np.argsort(dist)[:3].tolist()
    info = ann.build_index(store.root, load_snapshot(store.latents("toy")), "ivf", "l2")
    path = ann.index_path(store.root, "toy", info.version, "ivf", "l2")
    assert str(path).startswith("s3://") and path.exists() and path.with_suffix(".json").exists()
    assert ann.list_indexes(store.root) == [info]
    approx = store.knn("toy", z[:5], k=5, metric="l2", index="ivf")
    exact = store.knn("toy", z[:5], k=5, metric="l2")
    firsts = approx["item_id"].to_pylist()[::5]  # each query's nearest row is itself
    assert firsts == exact["item_id"].to_pylist()[::5] == [0, 1, 2, 3, 4]
    page = write_report.fn("<!DOCTYPE html><p>hi</p>", f"{store.root}/reports/x")
    assert page == f"s3://{s3_bucket}/store/reports/x/report.html"
    assert Location.of(page).read_text() == "<!DOCTYPE html><p>hi</p>"


def test_no_credential_is_ever_written(s3_bucket, capsys):
    from latentops.cli import main

    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    store = Store.open(f"s3://{s3_bucket}/store")
    _write(store.latents("toy"), range(50))
    _register(store, _vae())
    store.directions.register("up", Direction(np.ones(4), "manual"), DirectionLineage())
    ann.build_index(store.root, load_snapshot(store.latents("toy")), "hnsw", "cosine")
    with pytest.raises(SystemExit) as exc:
        main(["tables", "--store", str(store.root)])
    printed = capsys.readouterr()
    assert exc.value.code == 0
    assert "toy" in printed.out and secret not in printed.out + printed.err
    objects = _objects(s3_bucket)
    assert len(objects) > 10 and any(k.endswith(".faiss") for k in objects)
    leaks = [k for k, body in objects.items() if secret.encode() in body]
    assert leaks == []
    assert storage_options_for(str(store.root)) == {"AWS_ALLOW_HTTP": "true"}  # no key in it


def test_unsupported_and_malformed_locations():
    for uri in ("gs://bucket/store", "http://host/store", "abfs://c@a/store"):
        with pytest.raises(InvalidInputError, match=r"not supported; use .*s3://bucket/prefix"):
            Store.open(uri)
    with pytest.raises(InvalidInputError, match="missing a slash"):
        Store.open("s3:/bucket/store")  # what pathlib.Path makes of s3://bucket/store
    with pytest.raises(InvalidInputError, match=r"'\.\.'"):
        Store.open("s3://bucket/a/../b")
    with pytest.raises(InvalidInputError, match="s3://bucket/prefix"):
        Store.open("s3:///store")


def test_missing_bucket_unreachable_endpoint_and_missing_credentials(s3_bucket, monkeypatch):
    with pytest.raises(NotFoundError, match=r"bucket 'no-such' does not exist.*AWS_ENDPOINT_URL"):
        Store.open("s3://no-such/store")
    store = Store.open(f"s3://{s3_bucket}/store")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreAccessError, match=r"AWS_SECRET_ACCESS_KEY.*'" + s3_bucket):
        store.directions.list()
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    with pytest.raises(StoreAccessError, match=f"AWS_ENDPOINT_URL \\(now {closed}\\)"):
        Store.open(f"s3://{s3_bucket}/store")


def test_concurrent_writers_on_s3_stay_exactly_once(s3_bucket):
    # Threads race for real here (deltalake releases the GIL): commits collide and are retried.
    # S3 has no atomic rename; delta-rs commits with a conditional PUT (If-None-Match), which
    # moto honours, so no lock provider is needed.
    uri = str(Store.open(f"s3://{s3_bucket}/store").root)

    def insert(start):
        return _write(Store.open(uri).latents("shared"), range(start, start + 300), seed=start)[0]

    def register(seed):
        v = np.random.default_rng(seed).normal(size=4)
        return Store.open(uri).directions.register("up", Direction(v, "manual"), DirectionLineage())

    with ThreadPoolExecutor(4) as pool:
        inserted = list(pool.map(insert, [0, 100, 0, 200]))
        versions = [ref.version for ref in pool.map(register, range(4))]
    ids = Store.open(uri).latents("shared").item_ids()
    assert len(ids) == len(np.unique(ids)) == 500 and sum(inserted) == 500
    assert sorted(versions) == [1, 2, 3, 4]


def test_check_finds_a_lost_object_and_repair_drops_its_rows(s3_bucket):
    from latentops.storage import check

    store = Store.open(f"s3://{s3_bucket}/store")
    _write(store.latents("toy"), range(20))
    _write(store.latents("toy"), range(20, 30), seed=1)
    assert [(c.table, c.problem, c.rows) for c in check.check_store(store)] == [
        ("latents/toy", None, 30)
    ]
    lost = next(k for k in _objects(s3_bucket) if k.endswith(".parquet"))
    boto3.client("s3").delete_object(Bucket=s3_bucket, Key=lost)
    found = check.check_table(store, "latents/toy")
    assert found.problem.startswith("1 of 2 data files are missing")
    assert f"latentops tables repair latents/toy --store s3://{s3_bucket}/store" in found.repair
    assert check.repair(store, "latents/toy") == 1
    fixed = check.check_table(store, "latents/toy")
    assert fixed.problem is None and fixed.rows in (10, 20) and fixed.version == found.version + 1
    assert check.repair(store, "latents/toy") == 0  # nothing missing: no new version
    assert store.latents("toy").version == fixed.version
