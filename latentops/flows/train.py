"""Train flows: fit an autoencoder on a dataset and register an immutable model version; run a
named reference recipe (one model per (beta, seed))."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prefect import flow

from latentops.data import get_dataset
from latentops.errors import InvalidInputError
from latentops.models.recipes import Recipe, get_recipe
from latentops.refs import check_name
from latentops.storage import Store
from latentops.tasks.train import train_model


@flow(name="train")
def train_flow(
    dataset: str = "dsprites",
    *,
    arch: str = "vae",
    name: str | None = None,
    store: str | None = None,
    dataset_options: dict[str, Any] | None = None,
    model_params: dict[str, Any] | None = None,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    amp: bool = False,
    schedule: str | None = None,
    warmup_steps: int = 0,
    device: str | None = None,
    progress: bool = False,
    recipe: dict[str, Any] | None = None,
) -> str:
    """Train ``arch`` on ``dataset``; return the registered ``name@version``.

    ``schedule`` (None: TrainConfig's default) and ``warmup_steps`` shape the lr; ``recipe``
    (name and protocol of the recipe the run belongs to) is stored in the model card.
    """
    root = str(Store.open(store).root)
    name = check_name(name or arch, "model name")
    # bfloat16 autocast (CUDA only) measured slower than float32 for these small conv models.
    train_config: dict[str, Any] = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "amp": amp,
        "warmup_steps": warmup_steps,
    }
    if schedule is not None:
        train_config["schedule"] = schedule
    return train_model(
        root,
        name,
        dataset,
        dict(dataset_options or {}),
        arch,
        dict(model_params or {}),
        train_config,
        device,
        progress,
        recipe,
    )


def recipe_plan(
    recipe: Recipe,
    *,
    betas: list[float] | None = None,
    seeds: list[int] | None = None,
    max_steps: int | None = None,
    n_items: int | None = None,
) -> tuple[Recipe, list[dict[str, Any]]]:
    """The recipe as run (``max_steps`` overrides its steps) and its chosen (beta, seed) runs."""
    if max_steps is not None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise InvalidInputError(f"max_steps={max_steps!r} must be an int >= 1")
        recipe = replace(recipe, steps=max_steps)
    for given, known, what in ((betas, recipe.betas, "beta"), (seeds, recipe.seeds, "seed")):
        unknown = sorted(set(given or []) - set(known))
        if unknown:
            raise InvalidInputError(
                f"{what} {unknown} is not in recipe {recipe.name!r}'s grid {list(known)}; "
                f"pick from it (a different {what} is a different protocol)"
            )
    options = {"image_size": recipe.image_size} | ({"n_items": n_items} if n_items else {})
    size = get_dataset(recipe.dataset, **options).n_items
    runs = [
        {**run, "dataset_options": options}
        for run in recipe.runs(size)
        if (not betas or run["model_params"]["beta"] in betas)
        and (not seeds or run["model_params"]["seed"] in seeds)
    ]
    return recipe, runs


@flow(name="train-recipe")
def recipe_flow(
    recipe: str,
    *,
    betas: list[float] | None = None,
    seeds: list[int] | None = None,
    max_steps: int | None = None,
    n_items: int | None = None,
    store: str | None = None,
    device: str | None = None,
    progress: bool = False,
) -> list[str]:
    """Train every (beta, seed) run of a named recipe (or the chosen ones); their refs.

    Each model card stores the recipe's name and protocol (with any ``max_steps`` override),
    so its metrics can be set beside the published table the recipe reproduces.
    """
    chosen, runs = recipe_plan(
        get_recipe(recipe), betas=betas, seeds=seeds, max_steps=max_steps, n_items=n_items
    )
    protocol = {"name": chosen.name, "protocol": chosen.protocol()}
    return [
        train_flow(
            dataset=run["dataset"],
            arch=run["arch"],
            name=run["name"],
            store=store,
            dataset_options=run["dataset_options"],
            model_params=run["model_params"],
            device=device,
            progress=progress,
            recipe=protocol,
            **run["train_config"],
        )
        for run in runs
    ]
