"""Encode sharded over a Dask LocalCluster (prefect-dask) equals the single-process encode."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from latentops.errors import InvalidInputError
from latentops.flows.encode import encode_flow
from latentops.flows.runners import make_task_runner, runner_width
from latentops.storage.latents import z_matrix

OPTS = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset


def _dask_runner(cluster):
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=cluster.scheduler_address)


def _loads_per_worker(cluster) -> dict[str, tuple[int, int]]:
    def cache_info() -> tuple[int, int]:
        from latentops.storage.resources import _load

        info = _load.cache_info()
        return info.hits, info.misses

    from distributed import Client

    with Client(cluster) as client:
        return client.run(cache_info)


@pytest.mark.slow
def test_dask_encode_equals_single_process_and_loads_the_model_once_per_worker(
    model_store, cluster
):
    root = str(model_store.root)
    kwargs = {
        "dataset": "dsprites",
        "model": "vae@1",
        "store": root,
        "dataset_options": OPTS,
        "chunk_size": 200,
        "batch_size": 100,
    }
    single = encode_flow(table="single", **kwargs)
    sharded = encode_flow.with_options(task_runner=_dask_runner(cluster))(table="sharded", **kwargs)
    assert single["written"] == sharded["written"] == OPTS["n_items"]
    a = model_store.latent_table("single").read()
    b = model_store.latent_table("sharded").read()
    np.testing.assert_array_equal(a["item_id"].to_numpy(), b["item_id"].to_numpy())
    # Same batches through the same weights. Dask workers run torch on one thread (this
    # process on all cores), so float sums may round differently in the last bits; no more.
    np.testing.assert_allclose(z_matrix(b), z_matrix(a), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a["shape"].to_numpy(), b["shape"].to_numpy())
    # By default one chunk per worker thread is in flight.
    with _dask_runner(cluster) as runner:
        assert runner_width(runner) == 2
    # 8 chunks over 2 workers: each worker process loaded vae@1 once and reused it.
    loads = _loads_per_worker(cluster)
    assert len(loads) == 2
    assert all(misses <= 1 for _, misses in loads.values())
    assert sum(h + m for h, m in loads.values()) >= 8  # more only if a chunk was retried
    # Every commit, made in the workers, names the one flow run that sharded them.
    runs = {h["run_id"] for h in model_store.latent_table("sharded").history()}
    assert len(runs) == 1 and None not in runs


@pytest.mark.slow
def test_dask_rerun_and_overlap_keep_each_item_exactly_once(model_store, cluster):
    root = str(model_store.root)
    sharded = encode_flow.with_options(task_runner=_dask_runner(cluster))
    # A partial table from one process, then the cluster fills in the rest.
    first = encode_flow(
        dataset="dsprites",
        model="vae@1",
        table="t",
        store=root,
        dataset_options={**OPTS, "n_items": 500},
        chunk_size=250,
    )
    rest = sharded(
        dataset="dsprites",
        model="vae@1",
        table="t",
        store=root,
        dataset_options=OPTS,
        chunk_size=150,
        parallel=4,
    )
    ids = model_store.latent_table("t").item_ids()
    assert len(ids) == len(np.unique(ids)) == first["written"] + rest["written"]
    again = sharded(
        dataset="dsprites",
        model="vae@1",
        table="t",
        store=root,
        dataset_options=OPTS,
        chunk_size=150,
    )
    assert again["planned"] == again["written"] == 0


def test_runner_choice_and_its_errors():
    pytest.importorskip("prefect_dask")
    assert runner_width(make_task_runner("thread")) == 1
    runner = make_task_runner("dask", n_workers=3)
    assert type(runner).__name__ == "DaskTaskRunner"
    assert (
        runner.cluster_kwargs["n_workers"] == 3 and runner.cluster_kwargs["threads_per_worker"] == 1
    )
    assert make_task_runner("dask", address="tcp://10.0.0.1:8786").address == "tcp://10.0.0.1:8786"
    with pytest.raises(InvalidInputError, match="unknown; use one of thread, dask"):
        make_task_runner("ray")
    with pytest.raises(InvalidInputError, match="needs --runner dask"):
        make_task_runner("thread", address="tcp://x:1")
    with pytest.raises(InvalidInputError, match="n_workers=0"):
        make_task_runner("dask", n_workers=0)


def test_parallel_must_be_a_positive_int(model_store):
    with pytest.raises(InvalidInputError, match="parallel=0"):
        encode_flow(
            dataset="dsprites",
            model="vae@1",
            table="p",
            store=str(model_store.root),
            dataset_options=OPTS,
            parallel=0,
        )
    assert not model_store.latents("p").exists()


def test_dask_is_optional_imported_only_for_the_dask_runner():
    code = (
        "import sys; sys.modules['prefect_dask'] = None\n"  # as if prefect-dask were absent
        "import latentops.cli, latentops.flows.deployments\n"
        "from latentops.flows.runners import make_task_runner\n"
        "assert 'distributed' not in sys.modules\n"
        "make_task_runner('thread')\n"
        "try:\n"
        "    make_task_runner('dask')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("InvalidInputError") and "latentops[dask]" in out.stdout
