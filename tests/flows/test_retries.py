"""Retry policy under the real Prefect engine: transient faults retry with backoff, bad input never.

Attempts are counted from the task run's state history read back through the API client.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from prefect import flow
from prefect.states import Failed

from latentops.data import get_dataset
from latentops.errors import (
    CorruptArtifactError,
    InvalidInputError,
    NotFoundError,
    VersionConflictError,
)
from latentops.flows.encode import encode_flow
from latentops.storage import StoreAccessError
from latentops.tasks._common import retry_unless_bad_input, transient_retries
from latentops.tasks.encode import encode_chunk

OPTS = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset


def _task_runs(flow_state, final: str, timeout: float = 60):
    """[(task run, [state names])] of the flow run behind ``flow_state``, from the API.

    Prefect 3 records task-run states from events, a moment after the run ends, so poll
    until some task run reached the ``final`` state.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    only_this_flow = FlowRunFilter(id=FlowRunFilterId(any_=[flow_state.state_details.flow_run_id]))
    deadline = time.time() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=only_this_flow)
            found = [(run, client.read_task_run_states(run.id)) for run in runs]
            if any(states and states[-1].name == final for _, states in found):
                return found
            if time.time() > deadline:
                pytest.fail(f"no task run reached {final}: {[(r.name, r.state) for r in runs]}")
            time.sleep(0.2)


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (OSError("disk hiccup"), True),
        (ConnectionError("s3 reset"), True),
        (VersionConflictError("lost 25 commit races"), True),
        (StoreAccessError("cannot read s3://b/s: connection reset"), True),
        (InvalidInputError("z has NaN"), False),
        (NotFoundError("no model vae@9"), False),
        (CorruptArtifactError("sha256 mismatch"), False),
    ],
)
def test_retry_condition_separates_transient_from_bad_input(exc, retry):
    assert retry_unless_bad_input(None, None, Failed(data=exc)) is retry


def test_backoff_doubles_with_jitter():
    chunk = encode_chunk.with_options(**transient_retries(retries=3, base_delay=0.5))
    assert chunk.retries == 3
    assert chunk.retry_delay_seconds == [0.5, 1.0, 2.0]
    assert chunk.retry_jitter_factor == 0.5


def test_transient_io_failure_is_retried_then_succeeds(model_store):
    root = str(model_store.root)
    ids = get_dataset("dsprites", **OPTS).item_ids()[:100]
    # A real transient fault: a file sits where the table directory must go, so the first
    # attempt's commit fails with OSError. The retry hook clears it before the next attempt.
    blocker = Path(root) / "latents" / "t"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    cleared = []

    def clear_then_decide(task, task_run, state) -> bool:
        if blocker.is_file():
            blocker.unlink()
            cleared.append(task_run.run_count)
        return retry_unless_bad_input(task, task_run, state)

    chunk = encode_chunk.with_options(
        **{**transient_retries(base_delay=0.1), "retry_condition_fn": clear_then_decide}
    )

    @flow
    def one_chunk() -> int:
        return chunk(root, "t", "dsprites", OPTS, "vae@1", ids, 50, "cpu")

    state = one_chunk(return_state=True)
    assert state.is_completed() and state.result() == 100
    assert cleared == [1]
    np.testing.assert_array_equal(model_store.latent_table("t").item_ids(), np.sort(ids))
    ((run, states),) = _task_runs(state, "Completed")
    names = [s.name for s in states]
    assert run.run_count == 2 and names.count("AwaitingRetry") == 1 and names[-1] == "Completed"
    # The retry was scheduled base_delay (+ up to 50% jitter) after the failure.
    waiting = next(s for s in states if s.name == "AwaitingRetry")
    delay = (waiting.state_details.scheduled_time - waiting.timestamp).total_seconds()
    assert 0.05 <= delay <= 0.2


def test_bad_input_fails_once_and_is_not_retried(model_store, diverged_model):
    state = encode_flow(
        dataset="dsprites",
        model=diverged_model,
        table="b",
        store=str(model_store.root),
        dataset_options={**OPTS, "n_items": 50},
        return_state=True,
    )
    assert state.is_failed()
    with pytest.raises(InvalidInputError, match="NaN/inf"):
        state.result()
    chunks = [
        (run, states)
        for run, states in _task_runs(state, "Failed")
        if run.name.startswith("encode_chunk")
    ]
    ((run, states),) = chunks
    assert run.run_count == 1
    assert [s.name for s in states if s.name in ("AwaitingRetry", "Retrying")] == []
    assert not model_store.latents("b").exists()
