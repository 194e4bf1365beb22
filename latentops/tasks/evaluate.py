"""Evaluation tasks: train a judge, score a direction's edits with it, score disentanglement.

A direction's scorecard is computed in chunks of items (``score_chunk``, one task per chunk,
any worker: the model and judge load once per worker process) that return mergeable
accumulators; ``write_scorecard`` merges them and writes the rows in one atomic,
insert-if-absent commit with the run id and protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from latentops.data import Dataset
from latentops.errors import InvalidInputError
from latentops.evaluation import (
    AttributePredictor,
    PredictorConfig,
    beta_vae_score,
    dci,
    evaluate_predictor,
    factor_vae_score,
    mig,
    sap,
    split_scores,
    train_predictor,
)
from latentops.latent import log_prior
from latentops.models import pick_device
from latentops.storage import Store
from latentops.storage.judges import JudgeRegistry
from latentops.storage.latents import assign_split, factor_columns
from latentops.storage.scores import Protocol, Score, ScoreSource, ScoresTable, build_score_rows
from latentops.tasks._common import current_run_id, open_dataset
from latentops.tasks._scorecard import (
    Judged,
    Part,
    Scorecard,
    finish_scorecard,
    merge_parts,
    resolve_target,
)
from latentops.tasks.edit import (
    RETRY,
    decoder_for,
    fast_layout,
    pin_snapshot,
    rows_of,
    select_items,
)

METRICS = {
    "mig": mig,
    "sap": sap,
    "dci": dci,
    "beta_vae": beta_vae_score,
    "factor_vae": factor_vae_score,
}
_NAMED = ("mig", "sap")  # metrics that take factor_names for per-factor scores
_CACHE_FLOATS = 1 << 26  # render a training set once when it fits in 256 MB of float32


def _labelled(data: Dataset, ids: np.ndarray, batch_size: int, names: list[str]) -> Iterator[Any]:
    for b in data.batches(batch_size, ids):
        yield b.x, {k: torch.from_numpy(b.factors[k]) for k in names}


@task(cache_policy=NO_CACHE)
def train_judge(
    store_path: str,
    name: str,
    dataset: str,
    dataset_options: dict[str, Any],
    epochs: int = 4,
    batch_size: int = 128,
    lr: float = 3e-3,
    width: int = 16,
    feature_dim: int = 64,
    seed: int = 0,
    device: str | None = None,
) -> str:
    """Train an attribute predictor on the dataset's pixels and factors; register it."""
    store = Store.open(store_path)
    data = open_dataset(dataset, dataset_options)
    sizes = {k: v for k, v in data.factor_sizes.items() if v >= 2}
    if not sizes or len(data.x_shape) != 3:
        raise InvalidInputError(
            f"dataset {dataset!r} has no image pixels or no discrete factors with >= 2 values "
            f"(x_shape {data.x_shape}, factors {data.factor_sizes}); judges need both"
        )
    ids = data.item_ids()
    split = assign_split(ids)  # the latent tables' split: judges never see "test" items
    train_ids, test_ids = ids[split == "train"], ids[split == "test"]
    names = sorted(sizes)
    config = PredictorConfig(
        in_channels=data.x_shape[0],
        image_size=data.x_shape[-1],
        factor_sizes=sizes,
        width=width,
        feature_dim=feature_dim,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # reproducible initial weights
        judge = AttributePredictor(config)
    cached = len(train_ids) * int(np.prod(data.x_shape)) <= _CACHE_FLOATS
    if cached:
        x_all = torch.cat([x for x, _ in _labelled(data, train_ids, 4096, [])])  # (N, C, H, W)
        y_all = {k: torch.from_numpy(v) for k, v in data.factors(train_ids).items() if k in sizes}

    def batches(epoch: int) -> Iterator[Any]:
        order = np.random.default_rng(seed + epoch).permutation(len(train_ids))
        if not cached:
            yield from _labelled(data, train_ids[order], batch_size, names)
            return
        for s in range(0, len(order), batch_size):
            i = torch.from_numpy(order[s : s + batch_size])
            yield x_all[i], {k: y[i] for k, y in y_all.items()}

    dev = pick_device(device)
    result = train_predictor(judge, batches, epochs=epochs, lr=lr, seed=seed, device=dev)
    held_out = evaluate_predictor(judge, _labelled(data, test_ids, 1024, names), device=dev)
    get_run_logger().info("judge %s held-out accuracy: %s", name, held_out)
    ref = JudgeRegistry(store.root).register(
        name,
        judge.cpu(),
        dataset=data.name,
        dataset_fingerprint=data.fingerprint,
        dataset_options=dataset_options,
        train={
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "n_train": int(len(train_ids)),
            "history": result["history"],
        },
        metrics={
            "held_out_accuracy": held_out,
            "train_accuracy": result["accuracy"],
            "n_test": int(len(test_ids)),
        },
        run_id=current_run_id(),
    )
    return str(ref)


def check_judge(
    judge_card: dict[str, Any], model_card: dict[str, Any], x_shape: tuple[int, ...]
) -> None:
    """Refuse a judge trained on another dataset or image geometry than the model's outputs."""
    cfg = judge_card["config"]
    want = (cfg["in_channels"], cfg["image_size"], cfg["image_size"])
    if judge_card["dataset"] != model_card["dataset"] or tuple(x_shape) != want:
        raise InvalidInputError(
            f"judge {judge_card['ref']} scores {judge_card['dataset']} images of shape {want} "
            f"but {model_card['ref']} decodes {model_card['dataset']} images of shape "
            f"{tuple(x_shape)}; train a judge on that data (latentops judges train)"
        )


def check_evaluation(
    store: Store, card: dict[str, Any], judge: str, refs: list[str], target: str | None
) -> tuple[str, dict[str, str]]:
    """Before any write: the judge fits the model's images and sees every direction's target."""
    net, _ = decoder_for(store, card, "cpu")
    judge_card = JudgeRegistry(store.root).card(judge)
    check_judge(judge_card, store.models.card(card["model"]), net.x_shape)
    targets = {}
    for ref in refs:
        _, lineage, _ = store.directions.get(ref)
        targets[ref] = resolve_target(target, lineage.label_spec, judge_card["factors"], ref)[2]
    return judge_card["ref"], targets


def real_images(model_card: dict[str, Any]) -> Dataset:
    """The dataset that renders a table's real images: the model's training data, unsubset.

    ``n_items`` only picks a subset of the same items, and a later encode may have used a
    larger one than training did (a served encode that grows the table); every item id
    renders the same pixels without it.
    """
    options = model_card["train"].get("dataset_options") or {}
    return open_dataset(model_card["dataset"], {k: v for k, v in options.items() if k != "n_items"})


@lru_cache(maxsize=4)
def _judge(store_root: str, ref: str, sha256: str, device: str) -> tuple[AttributePredictor, dict]:
    # sha256 is part of the key so a re-registered name never serves stale weights.
    judge, card = JudgeRegistry(Store.open(store_root).root).load(ref, device)
    return fast_layout(judge), card


def load_judge(store: Store, ref: str, dev: torch.device) -> tuple[AttributePredictor, dict]:
    """Load judge ``ref`` once per worker process and device (later calls hit the cache)."""
    card = JudgeRegistry(store.root).card(ref)
    return _judge(str(store.root), card["ref"], card["sha256"], str(dev))


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
    snap, card = pin_snapshot(store, table, version)
    net, dev = decoder_for(store, card, device)
    model_card = store.models.card(card["model"])
    judge_net, judge_card = load_judge(store, judge, dev)
    check_judge(judge_card, model_card, net.x_shape)
    vec, lineage, _ = store.directions.get(direction)
    attr, weights, _ = resolve_target(target, lineage.label_spec, judge_card["factors"], direction)
    data = real_images(model_card)
    scorecard = Scorecard(
        Judged(judge_net, attr, weights),
        net,
        dev,
        np.asarray(strengths, np.float64),
        np.asarray(vec.vector, np.float32),
        ppl_items=ppl_items,
        ppl_eps=ppl_eps,
        seed=seed,
        offset=offset,
    )
    z = rows_of(snap, item_ids)  # (N, d)
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
    snap, card = pin_snapshot(store, table, version)
    model_card = store.models.card(card["model"])
    judge_card = JudgeRegistry(store.root).card(judge)
    _, lineage, _ = store.directions.get(direction)
    attr, _, expr = resolve_target(target, lineage.label_spec, judge_card["factors"], direction)
    data = real_images(model_card)
    part = merge_parts(parts)
    grid = np.asarray(strengths, np.float64)
    logp_data = log_prior(torch.from_numpy(snap.z)).numpy()  # (N_table,)
    values, skipped = finish_scorecard(part, grid, attr, ppl_eps, logp_data, calibrate)
    if skipped:
        get_run_logger().warning("%s: scores left out: %s", direction, "; ".join(skipped))

    shared = Protocol(
        estimator="",
        seed=seed,
        n_items=int(part.n),
        strength_grid=tuple(float(s) for s in strengths),
        judge=judge_card["ref"],
        judge_sha256=judge_card["sha256"],
        params={"target": expr, "selection": selection or {}, "data": data.fingerprint},
    )
    scores = [
        Score(
            metric,
            value,
            replace(shared, estimator=est, params={**shared.params, **params}),
            direction=direction,
            strength=s,
            target=attr,
        )
        for (metric, s), (value, est, params) in values.items()
    ]
    source = ScoreSource(
        run_id, "edit", card["model"], card.get("model_sha256"), table, snap.version
    )
    written = ScoresTable(store.table_uri("scores")).insert(
        build_score_rows(scores, source), run_id
    )
    return {"direction": direction, "target": expr, "written": written, "skipped": skipped}


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
    snap, card = pin_snapshot(store, table, version)
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not metrics:
        raise InvalidInputError(
            f"metrics {unknown or metrics} unknown; choose from {sorted(METRICS)}"
        )
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
    pos = snap.positions(select_items(snap, where, None, seed))
    z = snap.z[pos]  # (N, d)
    y = np.stack([snap.rows[c].to_numpy()[pos] for c in names], axis=1)  # (N, K)
    scores = []
    for name in metrics:
        kwargs: dict[str, Any] = {"fast": fast, "seed": seed}
        if name in _NAMED:
            kwargs["factor_names"] = names
        values, proto = split_scores(METRICS[name](z, y, **kwargs))
        protocol = Protocol(
            estimator=str(proto.get(f"{name}.estimator", name)),
            seed=seed,
            n_items=int(len(z)),
            params={**proto, "factors": names, "where": where},
        )
        scores += [Score(metric, value, protocol) for metric, value in values.items()]
    source = ScoreSource(
        run_id, "disentanglement", card["model"], card.get("model_sha256"), table, snap.version
    )
    written = ScoresTable(store.table_uri("scores")).insert(
        build_score_rows(scores, source), run_id
    )
    return {"written": written, "factors": names, "n_items": int(len(z))}
