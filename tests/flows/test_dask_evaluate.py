"""Edit scorecards sharded over a Dask LocalCluster equal the thread-runner scorecards.

The scorecard of a direction is computed in chunks of items (one task each) whose parts
merge into the whole; these tests check that merging is exact, that the chunks give the
same scores on two worker processes as in this process, and that scores are written once.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from latentops.errors import InvalidInputError
from latentops.evaluation import finish_scorecard, merge_parts
from latentops.flows.directions import fit_directions_flow
from latentops.flows.encode import encode_flow
from latentops.flows.evaluate import evaluate_flow, train_judge_flow
from latentops.storage import Store
from latentops.storage.scores import ScoresTable
from latentops.tasks.evaluate import score_chunk, write_scorecard

OPTS = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset
GRID = [-2.0, 0.0, 2.0]
RUN = {"strengths": GRID, "sample": 300, "seed": 1, "ppl_items": 150, "batch_size": 64}


@pytest.fixture(scope="module")
def base(trained_store, tmp_path_factory):
    """vae@1 encoded into table t, directions posx@1 and heart@1, a 1-epoch judge@1."""
    root = tmp_path_factory.mktemp("dask-eval") / "store"
    shutil.copytree(trained_store, root)
    root = str(root)
    encode_flow(dataset="dsprites", model="vae@1", table="t", store=root, dataset_options=OPTS)
    specs = [
        {"name": "posx", "method": "ridge", "label": "pos_x"},
        {"name": "heart", "method": "logistic", "label": "shape==2"},
    ]
    fit_directions_flow("t", specs, store=root)
    train_judge_flow("dsprites", name="judge", store=root, dataset_options=OPTS, epochs=1)
    return root


@pytest.fixture
def root(base, tmp_path):
    """A private copy of the base store, so each test sees no other test's scores."""
    dst = tmp_path / "store"
    shutil.copytree(base, dst)
    return str(dst)


def _rows(root: str, run_id: str) -> dict[tuple, dict]:
    rows = ScoresTable(Store.open(root).table_uri("scores")).read(run_id=run_id).to_pylist()
    return {(r["direction"], r["metric"], r["strength"]): r for r in rows}


def _load_counts(cluster) -> dict[str, dict[str, tuple[int, int]]]:
    def cache_info() -> dict[str, tuple[int, int]]:
        from latentops.storage.resources import _decoder, _judge

        return {
            name: (info.hits, info.misses)
            for name, info in (("judge", _judge.cache_info()), ("decoder", _decoder.cache_info()))
        }

    from distributed import Client

    with Client(cluster) as client:
        return client.run(cache_info)


@pytest.mark.slow
def test_dask_scorecards_equal_the_thread_runner_and_load_once_per_worker(root, cluster):
    from prefect_dask import DaskTaskRunner

    kwargs = {**RUN, "store": root, "chunk_size": 100}  # 3 chunks per direction
    threads = evaluate_flow("t", ["posx", "heart"], "judge", **kwargs)
    runner = DaskTaskRunner(address=cluster.scheduler_address)
    sharded = evaluate_flow.with_options(task_runner=runner)(
        "t", ["posx", "heart"], "judge", **kwargs
    )
    a, b = _rows(root, threads["run_id"]), _rows(root, sharded["run_id"])
    assert threads["written"] == sharded["written"] == len(a) == len(b) > 2 * 20
    assert a.keys() == b.keys() and threads["skipped"] == sharded["skipped"]
    worst = 0.0
    for key, row in a.items():
        other = b[key]
        assert other["protocol_id"] == row["protocol_id"] and other["n_items"] == 300
        # Same chunks, batches and weights; the Dask workers run torch on one thread and this
        # process on all cores, so float32 convolution sums round differently in the last
        # bits (about 1e-7 relative). Means, moments and the Frechet distance of those
        # features stay within 1e-5 relative (6e-7 measured); nothing else may differ.
        assert other["value"] == pytest.approx(row["value"], rel=1e-5, abs=1e-7), key
        worst = max(worst, abs(other["value"] - row["value"]) / max(abs(row["value"]), 1e-6))
    print(f"\nlargest relative difference, dask vs thread runner: {worst:.2e}")
    # 6 chunks over 2 worker processes: each loaded the judge and the decoder once.
    counts = _load_counts(cluster)
    assert len(counts) == 2
    for what in ("judge", "decoder"):
        assert all(c[what][1] <= 1 for c in counts.values()), counts
        assert sum(sum(c[what]) for c in counts.values()) >= 6  # more only if a chunk retried


def test_chunk_parts_merge_into_the_one_pass_scorecard_and_write_once(root):
    store = Store.open(root)
    version = store.latent_table("t").version
    ids = np.sort(store.latent_table("t").item_ids())[:300]
    args = (root, "t", version, "posx@1", "judge@1")
    opts = {"seed": 1, "batch_size": 64, "ppl_items": 150}
    whole = score_chunk.fn(*args, ids, 0, GRID, **opts)
    # Uneven chunks, merged out of order; the path-length items straddle the chunk border.
    parts = [score_chunk.fn(*args, ids[s:e], s, GRID, **opts) for s, e in ((120, 300), (0, 120))]
    merged = merge_parts(parts)
    features = store.judges.card("judge@1")["config"]["feature_dim"]  # judged features per item
    assert merged.n == whole.n == 300
    assert merged.ppl.shape == whole.ppl.shape == (2, 150, features)
    np.testing.assert_allclose(merged.resp, whole.resp, rtol=1e-6)
    np.testing.assert_allclose(merged.ppl, whole.ppl, rtol=1e-6, atol=1e-9)
    logp = np.zeros(10)
    ours, _ = finish_scorecard(merged, np.array(GRID), "pos_x", 1e-2, logp, 1.0)
    want, _ = finish_scorecard(whole, np.array(GRID), "pos_x", 1e-2, logp, 1.0)
    assert ours.keys() == want.keys()
    for key, (value, _, params) in want.items():
        assert ours[key][0] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        assert ours[key][2] == params
    # The single write per direction is insert-if-absent: a retried write adds nothing.
    write = (*args, parts, GRID, "run-1")
    first = write_scorecard.fn(*write, seed=1, calibrate=None)
    again = write_scorecard.fn(*write, seed=1, calibrate=None)
    assert first["written"] == len(_rows(root, "run-1")) > 0 and again["written"] == 0
    with pytest.raises(InvalidInputError, match=r"tile the item selection.*\[0, 120\)"):
        merge_parts([parts[1], score_chunk.fn(*args, ids[150:], 150, GRID, **opts)])


def test_bad_chunking_is_refused_before_any_score(root):
    scores = ScoresTable(Store.open(root).table_uri("scores"))
    with pytest.raises(InvalidInputError, match="chunk_size=0"):
        evaluate_flow("t", ["posx"], "judge", sample=8, chunk_size=0, store=root)
    with pytest.raises(InvalidInputError, match="parallel=0"):
        evaluate_flow("t", ["posx"], "judge", sample=8, parallel=0, store=root)
    assert not scores.exists() or scores.read().num_rows == 0
