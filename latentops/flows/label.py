"""Label flow: a judge labels the decodes of a latent table's rows (the generator path).

Each chunk of rows is decoded and classified through the flow's task runner; the labels
are committed at once, in one new table version (the first run commits the empty columns,
whose metadata names the judge, just before). Re-running labels only rows the judge has not
labelled (rows sampled since), so each row is labelled exactly once. A run that labelled
rows announces the version (artifact + ``latentops.latents.updated``), as encoding does.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from latentops._validate import check_positive_ints
from latentops.flows._lineage import record_latents_version
from latentops.flows.runners import fan_out
from latentops.storage import Store
from latentops.tasks._common import transient_retries
from latentops.tasks.label import label_chunk, plan_label, write_labels


@flow(name="label", log_prints=False)
def label_flow(
    table: str,
    judge: str,
    *,
    store: str | None = None,
    table_version: int | None = None,
    batch_size: int = 256,
    chunk_size: int = 4096,
    device: str | None = None,
    parallel: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Decode the rows ``judge`` has not labelled yet, classify them, add its label columns."""
    check_positive_ints(batch_size=batch_size, chunk_size=chunk_size)
    root = str(Store.open(store).root)
    plan = plan_label(root, table, judge, table_version)
    version, judge_ref, missing = plan["version"], plan["judge"], plan["missing"]
    logger = get_run_logger()
    logger.info("%s v%d: %d rows to label with %s", table, version, len(missing), judge_ref)

    options = {"batch_size": batch_size, "device": device}
    calls = [
        (len(ids), (root, table, version, judge_ref, ids), options)
        for ids in (missing[i : i + chunk_size] for i in range(0, len(missing), chunk_size))
    ]
    parts = fan_out(
        label_chunk.with_options(**transient_retries()),
        calls,
        description=f"label {table}",
        total=len(missing),
        parallel=parallel,
        progress=progress,
    )
    written = write_labels(root, table, judge_ref, parts) if parts else 0

    latents = Store.open(root).latent_table(table)
    logger.info("%s: labelled %d rows, table now at version %d", table, written, latents.version)
    if written:  # directions fitted on this table's labels may now be refitted
        model = latents.card["model"]
        record_latents_version(root, table, latents.version, written, model, "rows_labelled")
    return {
        "table": table,
        "judge": judge_ref,
        "read_version": version,
        "planned": int(len(missing)),
        "written": written,
        "version": latents.version,
        "columns": [c for c in (parts[0] if parts else {}) if c != "item_id"],
    }
