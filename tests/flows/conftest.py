"""Fixtures shared by the flow tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes, as a second machine's workers would be.

    Module-scoped: each test module counts model loads per worker on a cluster of its own.
    """
    pytest.importorskip("prefect_dask")
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster
