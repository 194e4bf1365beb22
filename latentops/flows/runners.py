"""Task runners by name: threads in this process, or a Dask cluster (prefect-dask, optional)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from prefect import Task
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture, wait
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from latentops._progress import progress_bar
from latentops._validate import is_int
from latentops.errors import InvalidInputError
from latentops.flows.params import RunnerOptions, check_runner


def make_task_runner(
    kind: str = "thread", *, address: str | None = None, n_workers: int = 2
) -> TaskRunner:
    """``thread``: this process; ``dask``: the cluster at ``address``, else a LocalCluster.

    The local cluster has ``n_workers`` single-threaded worker processes, so each worker
    loads the model once and torch does not oversubscribe the cores. prefect-dask is
    imported only here, so latentops runs without it unless ``dask`` is asked for.
    """
    check_runner(kind, address)
    if kind == "thread":
        return ThreadPoolTaskRunner()
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise InvalidInputError(
            f"runner 'dask' needs prefect-dask ({exc}); install it with "
            "pip install 'latentops[dask]'"
        ) from exc
    if address:
        return DaskTaskRunner(address=address)
    if not is_int(n_workers, 1):
        raise InvalidInputError(f"n_workers={n_workers!r} must be an int >= 1")
    cluster: dict[str, Any] = {"n_workers": n_workers, "threads_per_worker": 1, "processes": True}
    return DaskTaskRunner(cluster_kwargs=cluster)


def runner_for(options: RunnerOptions) -> TaskRunner:
    """The task runner a deployment's typed ``runner`` parameter asks for."""
    return make_task_runner(options.kind, address=options.address, n_workers=options.n_workers)


def runner_width(runner: TaskRunner | None) -> int:
    """How many chunks to keep in flight: one per Dask worker thread, else one."""
    client = getattr(runner, "client", None)  # only DaskTaskRunner has one
    if client is None or not hasattr(client, "nthreads"):
        return 1
    return max(1, sum(client.nthreads().values()))


def in_flight(parallel: int | None) -> int:
    """Chunks to keep in flight: ``parallel``, else the current flow's runner_width."""
    if parallel is None:
        ctx = FlowRunContext.get()
        return runner_width(ctx.task_runner if ctx else None)
    if not is_int(parallel, 1):
        raise InvalidInputError(f"parallel={parallel!r} must be None (auto) or an int >= 1")
    return parallel


# One call of a fanned-out task: (units of work it does, for the progress bar; args; kwargs).
Call = tuple[int, tuple[Any, ...], dict[str, Any]]


def fan_out(
    task: Task,
    calls: Iterable[Call],
    *,
    description: str,
    total: int,
    parallel: int | None = None,
    progress: bool = False,
) -> list[Any]:
    """Submit ``task`` once per call through the flow's task runner; results in call order.

    At most ``in_flight(parallel)`` calls run at once, so memory stays bounded however many
    chunks there are, and a Dask runner shards them over its workers. On a failure the calls
    already running finish (each commit is whole) before it propagates, so nothing writes
    after the flow has returned.
    """
    width = in_flight(parallel)
    results: list[Any] = []
    pending: deque[tuple[int, PrefectFuture]] = deque()
    with progress_bar(description, total, progress) as bar:

        def collect() -> None:
            n, future = pending.popleft()
            results.append(future.result())
            bar.advance(n)

        try:
            for n, args, kwargs in calls:
                pending.append((n, task.submit(*args, **kwargs)))
                if len(pending) >= width:
                    collect()
            while pending:
                collect()
        finally:
            wait([future for _, future in pending])
    return results
