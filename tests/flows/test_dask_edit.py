"""Edit, interpolate and traverse sharded over a Dask LocalCluster equal the thread runner."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from latentops.flows.directions import fit_directions_flow
from latentops.flows.edit import edit_flow, interpolate_flow, traverse_flow
from latentops.flows.encode import encode_flow
from latentops.storage import Store
from latentops.storage.latents import z_matrix

OPTS = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset
KEYS = ["edit_id", "kind", "item_id", "partner_id", "direction", "dim", "strength", "step"]


@pytest.fixture(scope="module")
def base(trained_store, tmp_path_factory):
    """vae@1 encoded into table t with direction posx@1."""
    root = tmp_path_factory.mktemp("dask-edit") / "store"
    shutil.copytree(trained_store, root)
    root = str(root)
    encode_flow(dataset="dsprites", model="vae@1", table="t", store=root, dataset_options=OPTS)
    fit_directions_flow("t", [{"name": "posx", "method": "ridge", "label": "pos_x"}], store=root)
    return root


def _copy(base: str, tmp_path, name: str) -> str:
    dst = tmp_path / name
    shutil.copytree(base, dst)
    return str(dst)


def _decoder_loads(cluster) -> int:
    def misses() -> int:
        from latentops.storage.resources import _decoder

        return _decoder.cache_info().misses

    from distributed import Client

    with Client(cluster) as client:
        return sum(client.run(misses).values())


@pytest.mark.slow
def test_edit_interpolate_traverse_on_dask_write_the_thread_runners_rows(base, cluster, tmp_path):
    from prefect_dask import DaskTaskRunner

    runs = {
        edit_flow: ("t", ["posx@1"]),
        interpolate_flow: ("t",),
        traverse_flow: ("t",),
    }
    options = {
        edit_flow: {"strengths": [-1.0, 0.0, 1.0], "sample": 30, "chunk_size": 12},
        interpolate_flow: {"n_pairs": 6, "steps": 4, "chunk_size": 8},  # 2 pairs per task
        traverse_flow: {"values": [-1.0, 1.0], "dims": [0, 2], "sample": 5, "chunk_size": 8},
    }
    threads, sharded = _copy(base, tmp_path, "threads"), _copy(base, tmp_path, "sharded")
    runner = DaskTaskRunner(address=cluster.scheduler_address)
    for flow, args in runs.items():
        a = flow(*args, store=threads, seed=3, batch_size=16, **options[flow])
        b = flow.with_options(task_runner=runner)(
            *args, store=sharded, seed=3, batch_size=16, **options[flow]
        )
        assert a["written"] == b["written"] > 0, flow.name
        assert {k: v for k, v in a.items() if k != "edits_uri"} == {
            k: v for k, v in b.items() if k != "edits_uri"
        }
    rows_a = Store.open(threads).edits.read().sort_by("edit_id")
    rows_b = Store.open(sharded).edits.read().sort_by("edit_id")
    assert (
        rows_a.num_rows == rows_b.num_rows == sum((30 * 3, 6 * 4, 5 * 2 * 2))
    )  # items x strengths, pairs x steps, items x values x dims
    for key in KEYS:
        assert rows_a[key].to_pylist() == rows_b[key].to_pylist(), key
    # the same float32 maths per item; only thread counts differ (workers run one thread)
    np.testing.assert_allclose(z_matrix(rows_b, "z_edit"), z_matrix(rows_a, "z_edit"), rtol=1e-6)
    assert rows_a["png"].null_count == rows_b["png"].null_count == 0
    # The decoding ran in the worker processes (each loads the decoder once), not in this one.
    assert 1 <= _decoder_loads(cluster) <= 2
    # Every row written in the workers names the flow run that sharded it: one per flow.
    assert (
        None not in set(rows_b["run_id"].to_pylist())
        and len(set(rows_b["run_id"].to_pylist())) == 3
    )
