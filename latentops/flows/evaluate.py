"""Evaluation flows: train a judge, score direction edits (the scorecard), score disentanglement.

The scorecard's heavy work (edit, decode, judge) runs as chunked tasks through the flow's
task runner, so ``evaluate_flow.with_options(task_runner=make_task_runner("dask"))`` shards
it over a Dask cluster with the same scores as in this process.

Every score row is written with its run id and full protocol (judge name@version and sha256,
estimator, seed, strength grid, item count, code version), so one metric name never stands
for two computations.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow, get_run_logger

from latentops._validate import check_grid, check_positive_ints, is_int
from latentops.errors import InvalidInputError
from latentops.evaluation import METRICS, JudgeTraining, Part
from latentops.flows.edit import DEFAULT_STRENGTHS
from latentops.flows.runners import fan_out
from latentops.refs import check_name
from latentops.storage import Store
from latentops.tasks._common import (
    check_evaluation,
    current_run_id,
    transient_retries,
    uses_text_judges,
)
from latentops.tasks.evaluate import (
    score_chunk,
    score_disentanglement,
    score_text_direction,
    train_judge,
    write_scorecard,
)

JUDGE_DATA = {"dsprites": {"image_size": 32, "n_items": 20_000}, "digits": {}}


@flow(name="train-judge")
def train_judge_flow(
    dataset: str = "dsprites",
    *,
    name: str | None = None,
    store: str | None = None,
    dataset_options: dict[str, Any] | None = None,
    epochs: int = JudgeTraining.epochs,
    batch_size: int = JudgeTraining.batch_size,
    lr: float = JudgeTraining.lr,
    width: int = JudgeTraining.width,
    feature_dim: int = JudgeTraining.feature_dim,
    seed: int = 0,
    device: str | None = None,
) -> str:
    """Train an attribute predictor (the judge of edits) on a dataset; return name@version."""
    root = str(Store.open(store).root)
    name = check_name(name or f"{dataset}-judge", "judge name")
    options = dict(JUDGE_DATA.get(dataset, {}) if dataset_options is None else dataset_options)
    training = JudgeTraining(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        width=width,
        feature_dim=feature_dim,
        seed=seed,
    )
    return train_judge(root, name, dataset, options, training, device)


def _run_id() -> str:
    """The flow run id (or a fresh uuid when called outside Prefect) that keys the scores."""
    return current_run_id() or str(uuid.uuid4())


def _check_sizes(chunk_size: int, batch_size: int, ppl_items: int, ppl_eps: float) -> None:
    check_positive_ints(chunk_size=chunk_size, batch_size=batch_size)
    if not is_int(ppl_items, 0):
        raise InvalidInputError(f"ppl_items={ppl_items!r} must be an int >= 0 (0 skips smoothness)")
    if not ppl_eps > 0:
        raise InvalidInputError(
            f"ppl_eps={ppl_eps!r} must be a small positive strength step, e.g. 0.01"
        )


@flow(name="evaluate")
def evaluate_flow(
    table: str,
    directions: list[str],
    judge: str,
    *,
    strengths: list[float] | None = None,
    where: str | None = None,
    sample: int | None = 512,
    seed: int = 0,
    target: str | None = None,
    calibrate: float | None = 1.0,
    store: str | None = None,
    table_version: int | None = None,
    batch_size: int = 256,
    ppl_items: int = 128,
    ppl_eps: float = 1e-2,
    device: str | None = None,
    chunk_size: int = 2048,
    parallel: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Scorecard per (direction, strength) with a judge; rows go to the scores table.

    Each direction's items are scored in chunks of ``chunk_size`` through the flow's task
    runner (``parallel`` in flight; default one per Dask worker thread, else one), then
    merged and written in one commit per direction. Chunking changes no score beyond float
    rounding, so it is not part of the protocol.
    """
    opened = Store.open(store)
    root = str(opened.root)
    grid = sorted(
        check_grid(DEFAULT_STRENGTHS if strengths is None else strengths, "strengths", min_size=2)
    )
    _check_sizes(chunk_size, batch_size, ppl_items, ppl_eps)
    snap = opened.snapshot(table, table_version)
    text = uses_text_judges(opened, snap.card, judge, table)
    refs = opened.directions.pin(directions, snap)
    judge_ref = judge if text else check_evaluation(opened, snap.card, judge, refs, target)[0]
    ids = snap.select(where=where, sample=sample, seed=seed)
    if len(ids) < 2:
        raise InvalidInputError(f"a scorecard needs at least 2 items, the selection has {len(ids)}")
    run_id = _run_id()
    selection = {"where": where, "sample": sample, "seed": seed}
    if text:  # retrieval-decoded sentences, judged by VADER, ground truth and cosine
        results = [
            score_text_direction(
                root,
                table,
                snap.version,
                ref,
                ids,
                grid,
                run_id,
                target=target,
                calibrate=calibrate,
                selection=selection,
                device=device,
            )  # fmt: skip
            for ref in refs
        ]
        return _summary(run_id, table, snap.version, judge_ref, refs, grid, ids, results)

    # Transform: every (direction, chunk) is one task, ``parallel`` of them in flight.
    chunks = [
        (ref, start, ids[start : start + chunk_size])
        for ref in refs
        for start in range(0, len(ids), chunk_size)
    ]
    options = {
        "target": target,
        "seed": seed,
        "batch_size": batch_size,
        "device": device,
        "ppl_items": ppl_items,
        "ppl_eps": ppl_eps,
    }
    calls = [
        (len(chunk), (root, table, snap.version, ref, judge_ref, chunk, start, grid), options)
        for ref, start, chunk in chunks
    ]
    scored = fan_out(
        score_chunk.with_options(**transient_retries()),
        calls,
        description=f"evaluate {table}",
        total=len(refs) * len(ids),
        parallel=parallel,
        progress=progress,
    )
    parts: dict[str, list[Part]] = {ref: [] for ref in refs}
    for (ref, _, _), part in zip(chunks, scored, strict=True):
        parts[ref].append(part)

    # Load: one insert-if-absent commit per direction, keyed by this run.
    results = [
        write_scorecard(
            root,
            table,
            snap.version,
            ref,
            judge_ref,
            parts[ref],
            grid,
            run_id,
            target=target,
            seed=seed,
            selection=selection,
            ppl_eps=ppl_eps,
            calibrate=calibrate,
        )
        for ref in refs
    ]
    return _summary(run_id, table, snap.version, judge_ref, refs, grid, ids, results)


def _summary(
    run_id: str,
    table: str,
    version: int,
    judge: str,
    refs: list[str],
    grid: list[float],
    ids: Any,
    results: list[dict[str, Any]],
) -> dict[str, Any]:
    """The evaluate flow's summary of its directions' write results (logged once)."""
    written = sum(r["written"] for r in results)
    get_run_logger().info(
        "evaluate %s v%d with %s: %d scores (run %s)", table, version, judge, written, run_id
    )
    return {
        "run_id": run_id,
        "table": table,
        "table_version": version,
        "judge": judge,
        "directions": refs,
        "strengths": grid,
        "n_items": int(len(ids)),
        "written": written,
        "targets": {r["direction"]: r["target"] for r in results},
        "skipped": {r["direction"]: r["skipped"] for r in results if r["skipped"]},
    }


@flow(name="disentanglement-metrics")
def metrics_flow(
    table: str,
    metrics: list[str] | None = None,
    *,
    factors: list[str] | None = None,
    where: str | None = None,
    fast: bool = True,
    seed: int = 0,
    store: str | None = None,
    table_version: int | None = None,
) -> dict[str, Any]:
    """MIG, SAP, DCI, BetaVAE and FactorVAE of a latent table vs its factor columns, stored."""
    opened = Store.open(store)
    root = str(opened.root)
    names = list(METRICS) if metrics is None else list(metrics)
    run_id = _run_id()
    out = score_disentanglement(
        root,
        table,
        table_version,
        names,
        run_id,
        factors=factors,
        where=where,
        fast=fast,
        seed=seed,
    )
    rows = opened.scores.read(run_id=run_id)
    values = dict(zip(rows["metric"].to_pylist(), rows["value"].to_pylist(), strict=True))
    get_run_logger().info("disentanglement of %s: %s", table, values)
    return {"run_id": run_id, "table": table, "metrics": names, "scores": values, **out}
