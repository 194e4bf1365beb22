"""Maintain-store flow: compact, checkpoint and vacuum every table, keeping pinned versions."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from latentops.flows.artifacts import markdown_table, publish_markdown
from latentops.storage import Store
from latentops.storage.check import table_location, table_names
from latentops.storage.maintain import parse_age
from latentops.tasks.maintain import maintain_one


@flow(name="maintain-store")
def maintain_flow(
    store: str | None = None,
    *,
    older_than: str = "7d",
    dry_run: bool = False,
    table: str | None = None,
) -> dict[str, Any]:
    """Maintain every table of ``store`` (or one): retained versions keep all their files."""
    window = parse_age(older_than).total_seconds()  # bad input fails before any work
    opened = Store.open(store, create=False)
    root = str(opened.root)
    if table is not None:
        table_location(opened, table)  # NotFoundError listing the tables
    names = [table] if table is not None else table_names(opened)

    futures = [maintain_one.submit(root, name, window, dry_run) for name in names]
    tables = [future.result() for future in futures]

    removed = sum(t["vacuum_files"] for t in tables)
    freed = sum(t["vacuum_bytes"] for t in tables)
    get_run_logger().info(
        "%s %d file(s), %d bytes over %d table(s)",
        "would remove" if dry_run else "removed",
        removed,
        freed,
        len(tables),
    )
    rows = [
        {
            "table": t["table"],
            "compacted": f"{t['compacted_removed']} -> {t['compacted_added']}",
            "removed_files": t["vacuum_files"],
            "removed_bytes": t["vacuum_bytes"],
            "kept_versions": len(t["retained_versions"]),
            "pinned_versions": len(t["pinned_versions"]),
        }
        for t in tables
    ]
    publish_markdown("maintain", f"maintenance of {root}", markdown_table(rows))
    return {"store": root, "dry_run": dry_run, "files": removed, "bytes": freed, "tables": tables}
