"""The maintain-store flow under a real Prefect API, and its scheduled deployment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from latentops.errors import InvalidInputError, NotFoundError
from latentops.flows.deployments import build_deployments
from latentops.flows.maintain import maintain_flow
from latentops.flows.params import EncodeSpec
from latentops.models import build_model
from latentops.storage import Lineage, Store
from latentops.storage.latents import build_rows, latent_schema
from latentops.tasks.maintain import maintain_one


def _grown(root, commits=5):
    store = Store.open(root)
    table = store.latents("toy")
    factors = {"shape": np.arange(10) % 3}
    schema = latent_schema(factors, with_logvar=False)
    table.ensure(schema, {"kind": "latents", "d": 4, "model": "vae@1"}, None)
    for i in range(commits):
        z = np.random.default_rng(i).normal(size=(10, 4)).astype(np.float32)
        ids = np.arange(i * 10, i * 10 + 10)
        table.insert(build_rows(schema, ids, z, factors, Lineage("vae@1", "", "toy", "")), None)
    return store


def test_maintain_flow_compacts_every_table_and_keeps_pins(tmp_path, prefect_harness):
    store = _grown(tmp_path / "store")
    store.tags.tag(store, "toy", 2, "keep", None)
    rows = store.latents("toy").read(version=2)
    dry = maintain_flow(str(store.root), older_than="0", dry_run=True)
    assert dry["dry_run"] and store.latents("toy").version == 5  # changed nothing
    out = maintain_flow(str(store.root), older_than="0")
    tables = {t["table"]: t for t in out["tables"]}
    assert set(tables) == {"latents/toy", "tags"}
    assert tables["latents/toy"]["compacted_removed"] == 5
    assert tables["latents/toy"]["pinned_versions"] == [2]
    assert store.latents("toy").read(version=2).equals(rows)
    with pytest.raises(InvalidInputError, match="is not an age"):
        maintain_flow(str(store.root), older_than="weekly")
    with pytest.raises(NotFoundError, match="no table 'nope'"):
        maintain_flow(str(store.root), table="nope")


def test_maintain_task_body_runs_without_the_engine(tmp_path):
    store = _grown(tmp_path / "store", commits=3)
    summary = maintain_one.fn(str(store.root), "toy", 0.0, True)
    assert summary["table"] == "latents/toy" and summary["before"]["files"] == 3


def test_maintain_deployment_is_scheduled_on_this_store(tmp_path):
    store = _grown(tmp_path / "store", commits=1)
    model = build_model("vae", latent_dim=4, image_size=32, in_channels=1)
    meta = {"dataset": "dsprites", "dataset_fingerprint": "x", "train": {}, "metrics": {}}
    store.models.register("vae", model, **meta)
    root, spec = str(store.root), EncodeSpec(model="vae")
    *_, maintain = build_deployments(
        spec, store=root, refit=False, maintain_interval=3600, maintain_older_than="2d"
    )
    assert (maintain.flow_name, maintain.name) == ("maintain-store", "latentops")
    assert maintain.entrypoint == "latentops.flows.maintain.maintain_flow"
    assert maintain.schedules[0].schedule.interval.total_seconds() == 3600
    assert maintain.parameters == {"store": root, "older_than": "2d"}
    assert len(build_deployments(spec, store=root, refit=False)) == 1  # opt-in
    with pytest.raises(InvalidInputError, match="maintain interval 0"):
        build_deployments(spec, store=root, maintain_interval=0)
    with pytest.raises(InvalidInputError, match="is not an age"):
        build_deployments(spec, store=root, maintain_interval=60, maintain_older_than="x")


def test_prefect_yaml_declares_a_scheduled_maintain_store():
    spec = yaml.safe_load((Path(__file__).parents[2] / "infra" / "prefect.yaml").read_text())
    (maintain,) = [
        d for d in spec["deployments"] if d["entrypoint"].endswith("maintain.py:maintain_flow")
    ]
    assert maintain["schedules"][0]["cron"] and maintain["parameters"]["older_than"] == "7d"
