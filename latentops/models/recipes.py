"""Training recipes: named, published protocols to reproduce, as plain data (no IO).

A recipe fixes what a published table fixed (data, architecture family, optimiser, batch,
steps, the beta grid and seeds), so the metrics of its runs can be set beside that table.
``Recipe.runs`` expands it into one training spec per (beta, seed); ``Recipe.protocol`` is the
JSON stored with every metric computed on those runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from latentops.errors import InvalidInputError


@dataclass(frozen=True)
class Recipe:
    """A reproducible training protocol over a grid of betas and seeds."""

    name: str
    dataset: str
    image_size: int
    arch: str
    latent_dim: int
    betas: tuple[float, ...]
    seeds: tuple[int, ...]
    batch_size: int
    lr: float
    steps: int
    schedule: str  # TrainConfig.schedule
    logvar_bias: float  # VAEConfig.logvar_bias
    source: str  # where the protocol and the numbers to compare against come from

    def epochs(self, n_items: int) -> int:
        """Passes over ``n_items`` that give at least ``steps`` optimiser steps."""
        if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 1:
            raise InvalidInputError(f"n_items={n_items!r} must be a positive int")
        return math.ceil(self.steps / math.ceil(n_items / self.batch_size))

    def runs(self, n_items: int) -> list[dict[str, Any]]:
        """One training spec per (beta, seed): model name, model params and train config."""
        out = []
        for beta in self.betas:
            for seed in self.seeds:
                out.append(
                    {
                        "name": f"{self.name}-beta{beta:g}-seed{seed}",
                        "dataset": self.dataset,
                        "dataset_options": {"image_size": self.image_size},
                        "arch": self.arch,
                        "model_params": {
                            "latent_dim": self.latent_dim,
                            "beta": beta,
                            "seed": seed,
                            "logvar_bias": self.logvar_bias,
                        },
                        "train_config": {
                            "epochs": self.epochs(n_items),
                            "batch_size": self.batch_size,
                            "lr": self.lr,
                            "seed": seed,
                            "schedule": self.schedule,
                            "warmup_steps": 0,
                        },
                    }
                )
        return out

    def protocol(self) -> dict[str, Any]:
        """The recipe as JSON-ready data, stored beside every metric of its runs."""
        out = asdict(self)
        out["betas"], out["seeds"] = list(self.betas), list(self.seeds)
        return out


RECIPES = {
    "dsprites-reference": Recipe(
        name="dsprites-reference",
        dataset="dsprites",
        image_size=64,
        arch="vae",
        latent_dim=10,
        betas=(1.0, 2.0, 4.0, 6.0, 8.0, 16.0),
        seeds=(0, 1, 2),
        batch_size=64,
        lr=1e-4,
        steps=300_000,
        schedule="constant",  # the published runs use a constant Adam lr
        logvar_bias=0.0,  # and the frameworks' default initialisation
        source=(
            "disentanglement_lib beta-VAE on dSprites (Locatello et al., ICML 2019): Adam lr "
            "1e-4, batch 64, 300k steps, d=10, Bernoulli decoder, beta in {1, 2, 4, 6, 8, 16}; "
            "published MIG about 0.1-0.3 depending on beta and seed"
        ),
    ),
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name`` or an error listing the known ones."""
    if name not in RECIPES:
        raise InvalidInputError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]
