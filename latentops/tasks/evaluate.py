"""Evaluation tasks: train a judge, score a direction's edits with it, score disentanglement.

A direction's scorecard is computed in chunks of items (``score_chunk``, one task per chunk,
any worker: the model and judge load once per worker process) that return mergeable
accumulators; ``write_scorecard`` merges them and writes the rows in one atomic,
insert-if-absent commit with the run id and protocol.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import torch
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from latentops.directions import probe_scores
from latentops.errors import InvalidInputError
from latentops.evaluation import (
    TEXT_JUDGE,
    Corpus,
    Judged,
    JudgeTraining,
    Part,
    Scorecard,
    VaderJudge,
    check_judge,
    check_metrics,
    disentanglement,
    finish_scorecard,
    fit_judge,
    merge_parts,
    resolve_target,
    text_scorecard,
)
from latentops.latent import log_prior
from latentops.models import decode_all, pick_device
from latentops.storage import Store
from latentops.storage.latents import SAMPLED, assign_split, factor_columns
from latentops.storage.resources import load_decoder, load_judge, load_text_decoder
from latentops.storage.scores import Protocol, Score, ScoreSource, build_score_rows
from latentops.tasks._common import RETRY, current_run_id, open_dataset, real_images


@task(cache_policy=NO_CACHE)
def train_judge(
    store_path: str,
    name: str,
    dataset: str,
    dataset_options: dict[str, Any],
    training: JudgeTraining,
    device: str | None = None,
) -> str:
    """Train an attribute predictor on the dataset's pixels and factors; register it."""
    store = Store.open(store_path)
    data = open_dataset(dataset, dataset_options)
    ids = data.item_ids()
    split = assign_split(ids)  # the latent tables' split: judges never see "test" items
    train_ids, test_ids = ids[split == "train"], ids[split == "test"]
    judge, result, held_out = fit_judge(data, train_ids, test_ids, training, pick_device(device))
    logger = get_run_logger()
    logger.info("judge %s held-out accuracy: %s", name, held_out["accuracy"])
    for factor, reason in result["left_out"].items():
        logger.info("judge %s predicts no %s: %s", name, factor, reason)
    ref = store.judges.register(
        name,
        judge.cpu(),
        dataset=data.name,
        dataset_fingerprint=data.fingerprint,
        dataset_options=dataset_options,
        train={
            "epochs": training.epochs,
            "steps": result["steps"],
            "batch_size": training.batch_size,
            "lr": training.lr,
            "schedule": result["schedule"],
            "seed": training.seed,
            "n_train": int(len(train_ids)),
            "history": result["history"],
            # factors without a head, and why: evaluate refuses them as targets with the reason
            "left_out": result["left_out"],
        },
        metrics={
            "held_out_accuracy": held_out["accuracy"],
            # e.g. {"scale": {"shape": [accuracy at scale 0..5]}}: where small objects blur
            "held_out_accuracy_by": held_out["accuracy_by"],
            "train_accuracy": result["accuracy"],
            "n_test": int(len(test_ids)),
        },
        run_id=current_run_id(),
    )
    return str(ref)


@task(cache_policy=NO_CACHE, **RETRY)
def score_chunk(
    store_path: str,
    table: str,
    version: int,
    direction: str,
    judge: str,
    item_ids: np.ndarray,
    offset: int,
    strengths: list[float],
    target: str | None = None,
    seed: int = 0,
    batch_size: int = 256,
    device: str | None = None,
    ppl_items: int = 128,
    ppl_eps: float = 1e-2,
) -> Part:
    """Edit, decode and judge one chunk of items (selection positions from ``offset``).

    Writes nothing: the flow merges the chunks' parts and ``write_scorecard`` commits once,
    so a retried or re-run chunk can never add rows.
    """
    store = Store.open(store_path)
    snap = store.snapshot(table, version)
    card = snap.card
    net, dev = load_decoder(store, card, device)
    model_card = store.models.card(card["model"])
    judge_net, judge_card = load_judge(store, judge, dev)
    check_judge(judge_card, model_card, net.x_shape)
    vec, lineage, _ = store.directions.get(direction)
    attr, weights, _ = resolve_target(target, lineage.label_spec, judge_card, direction)
    data = real_images(model_card, card)
    scorecard = Scorecard(
        Judged(judge_net, attr, weights),
        partial(decode_all, net, dev),
        net.encode,
        np.asarray(strengths, np.float64),
        np.asarray(vec.vector, np.float32),
        ppl_items=ppl_items,
        ppl_eps=ppl_eps,
        seed=seed,
        offset=offset,
        offsets=vec.offsets,
    )
    z = snap.z_of(item_ids)  # (N, d)
    for batch in data.batches(batch_size, item_ids):
        start = scorecard.n
        scorecard.add(z[start : start + len(batch.item_id)], batch.x)
    return scorecard.part()


@task(cache_policy=NO_CACHE, **RETRY)
def write_scorecard(
    store_path: str,
    table: str,
    version: int,
    direction: str,
    judge: str,
    parts: list[Part],
    strengths: list[float],
    run_id: str,
    target: str | None = None,
    seed: int = 0,
    selection: dict[str, Any] | None = None,
    ppl_eps: float = 1e-2,
    calibrate: float | None = 1.0,
) -> dict[str, Any]:
    """Merge a direction's chunk parts into its scorecard and insert the rows once per run."""
    store = Store.open(store_path)
    snap = store.snapshot(table, version)
    card = snap.card
    model_card = store.models.card(card["model"])
    judge_card = store.judges.card(judge)
    vec, lineage, _ = store.directions.get(direction)
    attr, _, expr = resolve_target(target, lineage.label_spec, judge_card, direction)
    data = real_images(model_card, card)
    part = merge_parts(parts)
    grid = np.asarray(strengths, np.float64)
    # prior plausibility only means something against the prior the model was trained with
    standard = store.models.spec(model_card).prior == "standard_normal"
    logp_data = log_prior(torch.from_numpy(snap.z)).numpy() if standard else None  # (N_table,)
    probes = [p for p in probe_scores(vec.metrics) if p is not None]  # linear, kNN
    probe = max(probes) if probes else None  # encoded if either probe reads it out
    # prior samples have no real image of their own: no reconstruction to compare with
    paired = card.get("source") != SAMPLED
    values, skipped = finish_scorecard(
        part,
        grid,
        attr,
        ppl_eps,
        logp_data,
        calibrate,
        probe,
        classes=judge_card["factors"],
        paired=paired,
    )
    if skipped:
        get_run_logger().warning("%s: scores left out: %s", direction, "; ".join(skipped))

    shared = Protocol(
        estimator="",
        seed=seed,
        n_items=int(part.n),
        strength_grid=tuple(float(s) for s in strengths),
        judge=judge_card["ref"],
        judge_sha256=judge_card["sha256"],
        params={
            "target": expr,
            "selection": selection or {},
            "data": data.fingerprint,
            # what the strength grid means: "std" of the data along the direction, or "raw"
            "strength_unit": vec.strength_unit,
            "direction_std": vec.std,
        },
    )
    source = ScoreSource(
        run_id, "edit", card["model"], card.get("model_sha256"), table, snap.version
    )
    written = _insert_scorecard(store, values, shared, direction, attr, source)
    return {"direction": direction, "target": expr, "written": written, "skipped": skipped}


@task(cache_policy=NO_CACHE, **RETRY)
def score_text_direction(
    store_path: str,
    table: str,
    version: int,
    direction: str,
    item_ids: np.ndarray,
    strengths: list[float],
    run_id: str,
    *,
    target: str | None = None,
    calibrate: float | None = None,
    selection: dict[str, Any] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Edit a text table's items along one direction, retrieve, judge; insert the scores once."""
    store = Store.open(store_path)
    snap = store.snapshot(table, version)
    decoder, encoder = load_text_decoder(store, snap, device)
    vec, lineage, _ = store.directions.get(direction)
    expr = target or (lineage.label_spec or {}).get("expr")
    if not expr:
        raise InvalidInputError(
            f"direction {direction} has no label to judge; pass --target, e.g. sentiment or "
            "topic==books"
        )
    labels = [f.name for f in snap.rows.schema if f.name not in ("z", "z_logvar")]
    corpus = Corpus(
        snap.ids,
        snap.matrix("cosine"),
        {c: snap.rows[c].to_numpy(zero_copy_only=False) for c in labels},
    )
    grid = np.asarray(strengths, np.float64)
    vader = VaderJudge()
    values, skipped = text_scorecard(
        decoder, encoder.encode, vader, corpus, item_ids, np.asarray(vec.vector),
        grid, vec.offsets(grid), expr, calibrate,
    )  # fmt: skip
    if skipped:
        get_run_logger().warning("%s: scores left out: %s", direction, "; ".join(skipped))
    shared = Protocol(
        estimator="",
        n_items=int(len(item_ids)),
        strength_grid=tuple(float(s) for s in strengths),
        judge=TEXT_JUDGE,
        judge_sha256=None,
        params={
            "target": expr,
            "selection": selection or {},
            "decoder": "retrieval: nearest other sentence of the table by cosine; target and "
            "sentiment judged as the mean over the decoder_k nearest",
            "decoder_k": decoder.k,
            "vader": vader.version,
            "strength_unit": vec.strength_unit,
            "direction_std": vec.std,
        },
    )
    source = ScoreSource(
        run_id, "edit", snap.card["model"], snap.card.get("model_sha256"), table, snap.version
    )
    written = _insert_scorecard(store, values, shared, direction, expr, source)
    return {"direction": direction, "target": expr, "written": written, "skipped": skipped}


def _insert_scorecard(
    store: Store,
    values: dict,
    shared: Protocol,
    direction: str,
    target: str,
    source: ScoreSource,
) -> int:
    """Store one direction's scorecard values ((metric, strength) -> value, estimator, params)."""
    scores = [
        Score(
            metric,
            value,
            replace(shared, estimator=est, params={**shared.params, **params}),
            direction=direction,
            strength=s,
            target=target,
        )
        for (metric, s), (value, est, params) in values.items()
    ]
    return store.scores.insert(build_score_rows(scores, source), source.run_id)


@task(cache_policy=NO_CACHE, **RETRY)
def score_disentanglement(
    store_path: str,
    table: str,
    version: int | None,
    metrics: list[str],
    run_id: str,
    factors: list[str] | None = None,
    where: str | None = None,
    fast: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """MIG / SAP / DCI / BetaVAE / FactorVAE of a latent table vs its factor columns; write them."""
    store = Store.open(store_path)
    snap = store.snapshot(table, version)
    card = snap.card
    check_metrics(metrics)
    ints = [
        c for c in factor_columns(snap.rows.schema) if snap.rows.schema.field(c).type == "int64"
    ]
    names = ints if factors is None else list(factors)
    missing = sorted(set(names) - set(ints))
    if missing or not names:
        raise InvalidInputError(
            f"factor columns {missing or names} are not integer factor columns of {table!r}; "
            f"it has {ints}"
        )
    pos = snap.positions(snap.select(where=where, seed=seed))
    z = snap.z[pos]  # (N, d)
    y = np.stack([snap.rows[c].to_numpy()[pos] for c in names], axis=1)  # (N, K)
    scores = []
    for estimator, values, proto in disentanglement(z, y, names, metrics, fast=fast, seed=seed):
        params = {**proto, "factors": names, "where": where}
        protocol = Protocol(estimator=estimator, seed=seed, n_items=int(len(z)), params=params)
        scores += [Score(metric, value, protocol) for metric, value in values.items()]
    source = ScoreSource(
        run_id, "disentanglement", card["model"], card.get("model_sha256"), table, snap.version
    )
    written = store.scores.insert(build_score_rows(scores, source), run_id)
    return {"written": written, "factors": names, "n_items": int(len(z))}
