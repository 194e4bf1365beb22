"""Train task: stream a dataset through the pure training loop and register the model."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from latentops._progress import progress_bar
from latentops.data.text import refuse_training
from latentops.models import TrainConfig, build_model, pick_device, train_autoencoder
from latentops.storage import Store
from latentops.tasks._common import current_run_id, open_dataset


def _model_config(arch: str, x_shape: tuple[int, ...], config: dict[str, Any]) -> dict[str, Any]:
    """Fill in input geometry from the dataset so users only pass what they care about."""
    out = dict(config)
    if arch == "identity":
        out.setdefault("dim", int(np.prod(x_shape)))
    else:
        out.setdefault("in_channels", int(x_shape[0]))
        out.setdefault("image_size", int(x_shape[-1]))
    return out


@task(cache_policy=NO_CACHE)
def train_model(
    store_path: str,
    name: str,
    dataset: str,
    dataset_options: dict[str, Any],
    arch: str,
    model_params: dict[str, Any],
    train_config: dict[str, Any],
    device: str | None = None,
    progress: bool = False,
    recipe: dict[str, Any] | None = None,
) -> str:
    """Train ``arch`` on ``dataset`` and register it as the next version of ``name``.

    ``progress`` shows a bar of optimiser steps with the epoch and the latest loss; ``recipe``
    (the name and protocol of a reference recipe) goes into the card's ``train``.
    """
    store = Store.open(store_path)
    data = open_dataset(dataset, dataset_options)
    refuse_training(data)
    model = build_model(arch, **_model_config(arch, data.x_shape, model_params))
    cfg = TrainConfig(**train_config)
    ids = data.item_ids()

    def epoch_batches(epoch: int) -> Iterator[torch.Tensor]:
        order = np.random.default_rng(cfg.seed + epoch).permutation(ids)
        for batch in data.batches(cfg.batch_size, order):
            yield batch.x

    logger = get_run_logger()
    steps_per_epoch = -(-len(ids) // cfg.batch_size)
    done = 0

    with progress_bar(f"train {name}", cfg.epochs * steps_per_epoch, progress) as bar:

        def log_epoch(metrics: dict[str, Any]) -> None:
            nonlocal done
            logger.info("train %s: %s", name, {k: round(float(v), 5) for k, v in metrics.items()})
            step = int(metrics["step"])
            bar.advance(
                step - done,
                f"train {name} epoch {int(metrics['epoch']) + 1}/{cfg.epochs} "
                f"loss {metrics['loss']:.4g}",
            )
            done = step

        result = train_autoencoder(
            model, epoch_batches, cfg, device=pick_device(device), on_step=log_epoch
        )
    ref = store.models.register(
        name,
        model.cpu(),
        dataset=data.name,
        dataset_fingerprint=data.fingerprint,
        train={
            "config": dataclasses.asdict(cfg),
            "dataset_options": dataset_options,
            "n_items": len(ids),
            **({"recipe": recipe} if recipe else {}),
        },
        metrics={"final": result.final, "history": result.history},
        run_id=current_run_id(),
    )
    return str(ref)
