"""Sample flow: fill a latent table with draws from a generator's N(0, I) prior.

The generator path (InterFaceGAN style) has no encoder: ``sample_flow`` writes prior samples
(item_id = sample index, a pure function of the seed), ``label_flow`` has a judge label their
decodes, and then directions, edits and evaluation run on the table as on an encoded one.
Chunks go through the flow's task runner and commit like encoding: exactly once per index.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from latentops._validate import check_positive_ints, is_int
from latentops.errors import InvalidInputError
from latentops.flows._lineage import record_latents_version
from latentops.flows.runners import fan_out
from latentops.refs import check_name
from latentops.storage import Store
from latentops.storage.latents import factor_columns
from latentops.tasks._common import transient_retries
from latentops.tasks._generator import default_table_name
from latentops.tasks.sample import plan_sample, sample_chunk


@flow(name="sample", log_prints=False)
def sample_flow(
    model: str,
    *,
    n: int,
    seed: int = 0,
    table: str | None = None,
    store: str | None = None,
    chunk_size: int = 8192,
    parallel: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Write prior samples 0..n-1 of ``model`` not yet in the table, chunk by chunk.

    Sample i is the same whatever ``n`` and ``chunk_size``: a larger ``n`` extends the table.
    """
    check_positive_ints(n=n, chunk_size=chunk_size)
    if not is_int(seed, 0):
        raise InvalidInputError(f"seed={seed!r} must be an int >= 0")
    opened = Store.open(store)
    root = str(opened.root)
    model_ref = opened.models.card(model)["ref"]
    table = check_name(table or default_table_name(model_ref, seed), "table name")

    plan = plan_sample(root, table, model_ref, n, seed)
    missing = plan["missing"]
    logger = get_run_logger()
    logger.info("%s: %d of %d prior samples of %s to draw", table, len(missing), n, model_ref)
    calls = [
        (len(ids), (root, table, model_ref, ids, seed), {})
        for ids in (missing[i : i + chunk_size] for i in range(0, len(missing), chunk_size))
    ]
    written = sum(
        fan_out(
            sample_chunk.with_options(**transient_retries()),
            calls,
            description=f"sample {table}",
            total=len(missing),
            parallel=parallel,
            progress=progress,
        )
    )

    latents = opened.latents(table)
    version = latents.version if latents.exists() else None
    logger.info("%s: wrote %d samples, table now at version %s", table, written, version)
    # new rows of a labelled table wait for `label`, which announces the version then
    if written and version is not None and not factor_columns(latents.schema()):
        record_latents_version(root, table, version, written, model_ref)
    return {
        "table": table,
        "model": model_ref,
        "seed": seed,
        "n": n,
        "planned": int(len(missing)),
        "written": written,
        "version": version,
    }
