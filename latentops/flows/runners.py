"""Task runners by name: threads in this process, or a Dask cluster (prefect-dask, optional)."""

from __future__ import annotations

from typing import Any

from prefect.context import FlowRunContext
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from latentops.errors import InvalidInputError
from latentops.flows.params import RunnerOptions

RUNNERS = ("thread", "dask")


def make_task_runner(
    kind: str = "thread", *, address: str | None = None, n_workers: int = 2
) -> TaskRunner:
    """``thread``: this process; ``dask``: the cluster at ``address``, else a LocalCluster.

    The local cluster has ``n_workers`` single-threaded worker processes, so each worker
    loads the model once and torch does not oversubscribe the cores. prefect-dask is
    imported only here, so latentops runs without it unless ``dask`` is asked for.
    """
    if kind == "thread":
        if address is not None:
            raise InvalidInputError("--dask-address needs --runner dask")
        return ThreadPoolTaskRunner()
    if kind != "dask":
        raise InvalidInputError(f"runner {kind!r} is unknown; use one of {', '.join(RUNNERS)}")
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise InvalidInputError(
            f"runner 'dask' needs prefect-dask ({exc}); install it with "
            "pip install 'latentops[dask]'"
        ) from exc
    if address:
        return DaskTaskRunner(address=address)
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
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
    if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
        raise InvalidInputError(f"parallel={parallel!r} must be None (auto) or an int >= 1")
    return parallel
