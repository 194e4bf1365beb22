"""Maintenance task: compact, checkpoint and vacuum one table of the store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.storage import Store
from latentops.storage.maintain import maintain_table
from latentops.tasks._common import current_run_id, transient_retries


@task(cache_policy=NO_CACHE, **transient_retries())
def maintain_one(store_path: str, table: str, older_than_s: float, dry_run: bool) -> dict[str, Any]:
    """Maintain ``table`` (retried on IO failures and lost commit races); return its summary."""
    store = Store.open(store_path, create=False)
    report = maintain_table(
        store,
        table,
        older_than=timedelta(seconds=older_than_s),
        dry_run=dry_run,
        run_id=current_run_id(),
    )
    return report.summary()
