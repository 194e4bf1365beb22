"""Refit on a new table version (parent, same spec, idempotent); caching by input versions."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from prefect import flow

from latentops.directions import fit_direction, parse_label
from latentops.errors import NotFoundError
from latentops.flows.caching import InputVersions, input_versions_key
from latentops.flows.directions import fit_directions_flow
from latentops.flows.encode import encode_flow
from latentops.flows.refit import refit_flow
from latentops.storage.latents import factor_columns, z_matrix
from latentops.storage.maintain import maintain_table
from latentops.tasks.directions import fit_and_register

OPTS = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset


def _encode(store, n_items: int) -> int:
    encode_flow(
        dataset="dsprites",
        model="vae@1",
        table="t",
        store=str(store.root),
        dataset_options={**OPTS, "n_items": n_items},
        chunk_size=1000,
    )
    return store.latent_table("t").version


def test_refit_fits_stale_directions_again_with_the_same_spec(model_store):
    root = str(model_store.root)
    v1 = _encode(model_store, 600)
    fit_directions_flow(
        "t",
        [
            {"name": "heart", "method": "logistic", "label": "shape==2", "params": {"C": 0.5}},
            {"name": "right", "method": "ridge", "label": "pos_x"},
            {"name": "latent", "method": "pca", "params": {"n_components": 2}},
        ],
        store=root,
    )
    assert refit_flow(store=root)["refit"] == []  # everything is fitted on the current version

    v2 = _encode(model_store, 1200)
    assert v2 > v1
    out = refit_flow(store=root)
    assert sorted(out["refit"]) == ["heart@2", "right@2"]
    assert out["parents"] == {"heart@2": "heart@1", "right@2": "right@1"}
    assert sorted(s["ref"] for s in out["skipped"]) == ["latent-pca0@1", "latent-pca1@1"]

    old, _, _ = model_store.directions.get("heart@1")
    new, lineage, _ = model_store.directions.get("heart@2")
    assert (lineage.parent, lineage.latent_table_version) == ("heart@1", v2)
    assert (new.method, new.label, new.params) == (old.method, old.label, old.params)
    assert new.params["C"] == 0.5
    # The refit is exactly the fit of the same spec on the new snapshot.
    snap = model_store.latent_table("t").read(version=v2)
    columns = {c: snap[c].to_numpy() for c in factor_columns(snap.schema)}
    y, _ = parse_label("shape==2", columns)
    params = {k: v for k, v in old.params.items() if k != "target"}
    expect = fit_direction(z_matrix(snap), y, "logistic", label="shape==2", **params)
    np.testing.assert_allclose(new.vector, expect.vector, rtol=1e-6, atol=1e-7)

    again = refit_flow(store=root)  # idempotent: only the unrefittable ones are still stale
    assert again["refit"] == [] and again["skipped"] == out["skipped"]
    assert len(model_store.directions.list()) == 6
    maintain_table(model_store, "t", older_than=timedelta(days=1))  # compaction: same items
    assert model_store.latent_table("t").version > v2
    assert refit_flow(store=root)["refit"] == []  # a new version, but nothing to refit on
    with pytest.raises(NotFoundError, match="no latent table 'nope'"):
        refit_flow(table="nope", store=root)


def _direction_events(root: str, source: str, expect: int) -> list:
    """The ``direction.registered`` events a ``source`` run emitted for store ``root``, once
    ``expect`` arrived (plus a grace period in which any extra one would show up too)."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from latentops.flows._lineage import DIRECTION_REGISTERED

    query = EventFilter(
        event=EventNameFilter(name=[DIRECTION_REGISTERED]),
        resource=EventResourceFilter(
            id=[f"latentops.direction.{source}"], labels={"latentops.store": root}
        ),
    )
    deadline, events = time.monotonic() + 60, []
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            events = client.read_events(filter=query, limit=50).events
            if len(events) >= expect:
                time.sleep(3)  # events are persisted in order: a second one would be here now
                return client.read_events(filter=query, limit=50).events
            time.sleep(0.5)
    return events


def test_one_refit_of_several_directions_emits_one_event(model_store):
    root = str(model_store.root)
    _encode(model_store, 600)
    specs = [
        {"name": "heart", "method": "logistic", "label": "shape==2"},
        {"name": "right", "method": "ridge", "label": "pos_x"},
        {"name": "up", "method": "ridge", "label": "pos_y"},
    ]
    fit_directions_flow("t", specs, store=root)
    _encode(model_store, 900)
    out = refit_flow(store=root)
    assert sorted(out["refit"]) == ["heart@2", "right@2", "up@2"]
    (event,) = _direction_events(root, "refit", 1)  # one event, not three
    assert sorted(event.payload["refs"]) == ["heart@2", "right@2", "up@2"]
    assert event.payload["parents"]["up@2"] == "up@1"
    assert event.resource["latentops.count"] == "3"
    assert sorted(r["prefect.resource.name"] for r in event.related if r.role == "direction") == [
        "heart@2",
        "right@2",
        "up@2",
    ]
    (fitted,) = _direction_events(root, "fit", 1)  # the fit of three: one event as well
    assert sorted(fitted.payload["refs"]) == ["heart@1", "right@1", "up@1"]


def test_fit_is_cached_by_input_versions_not_by_arrays(model_store):
    root = str(model_store.root)
    _encode(model_store, 600)
    fit = fit_and_register.with_options(cache_policy=InputVersions())
    spec = {"name": "right", "method": "ridge", "label": "pos_x"}

    @flow
    def fit_twice() -> list:
        first = fit(root, "t", **spec, return_state=True)
        second = fit(root, "t", **spec, return_state=True)
        return [first, second]

    first, second = fit_twice()
    assert (first.name, second.name) == ("Completed", "Cached")
    assert first.result() == second.result() == ["right@1"]
    assert len(model_store.directions.list()) == 1  # the cached call registered nothing

    _encode(model_store, 1200)  # a new table version is a different input: no cache hit
    (third, _) = fit_twice()
    assert third.name == "Completed" and third.result() == ["right@2"]


def test_input_versions_key_pins_versions_and_refuses_arrays(model_store):
    root = str(model_store.root)
    key = lambda **kw: input_versions_key("fit", {"store_path": root, "table": "t", **kw})  # noqa: E731
    absent = key()
    v1 = _encode(model_store, 300)
    assert key() != absent and key() == key(table_version=None) == key(table_version=v1)
    assert key(table_version=v1) != key(table_version=0)
    assert key(params={"alpha": 1.0}) != key(params={"alpha": 2.0})
    with_model = input_versions_key("plan", {"store_path": root, "model": "vae"})
    assert with_model == input_versions_key("plan", {"store_path": root, "model": "vae@1"})
    assert key(item_ids=np.arange(3)) is None  # arrays are never hashed: not cached at all
