"""The generator path's checks and names, decided before anything is written (no Prefect, so
the CLI can ask before a flow starts): can this model be sampled, can this judge label it.
"""

from __future__ import annotations

from typing import Any

from latentops.errors import InvalidInputError, UnsupportedOperationError
from latentops.evaluation import check_judge
from latentops.models import require
from latentops.refs import generated_name, parse_ref
from latentops.storage import Store
from latentops.storage.latents import SAMPLED


def default_table_name(model_ref: str, seed: int) -> str:
    """``prior_<model>_v<version>_s<seed>``: one table per model version and seed."""
    ref = parse_ref(model_ref, "model")
    return generated_name("prior", ref.name, f"v{ref.version}", f"s{seed}")


def check_sample(store: Store, card: dict[str, Any], table: str, seed: int) -> None:
    """Raise unless ``card``'s model decodes and has an N(0, I) prior (reads no weights), and
    ``table`` is absent or holds its prior samples with this seed."""
    ref = card["ref"]
    fix = "sample a generator that decodes (e.g. a vae), or encode data with this model"
    require(store.models.capabilities(card), "decodes", ref, "sampling from a prior", fix)
    prior = store.models.spec(card).prior
    if prior != "standard_normal":
        raise UnsupportedOperationError(
            f"model {ref} declares prior {prior!r}, not 'standard_normal', so N(0, I) draws are "
            "not its latents; sample a model trained against a standard-normal prior (a vae), "
            "or encode data with this one"
        )
    latents = store.latents(table)
    if not latents.exists():
        return
    latents.check_space(int(card["latent_dim"]), ref)
    have = latents.card
    if have.get("source") != SAMPLED or have.get("seed") != seed:
        was = f"seed {have['seed']}" if have.get("source") == SAMPLED else "encoded data"
        raise InvalidInputError(
            f"latent table {table!r} holds samples from {was}, not prior samples with seed "
            f"{seed}; extend it with its own seed or sample into a new table (--table)"
        )


def check_label(store: Store, table: str, judge: str) -> dict[str, Any]:
    """The judge's card, after refusing a table whose model has no decoder, an unknown judge
    and a judge whose images differ from the decoder's (dataset or shape); reads no weights."""
    card = store.latent_table(table).card
    model_card = store.models.card(card["model"])
    fix = "label a table of a model that decodes, or import labels with the latents"
    caps = store.models.capabilities(model_card)
    require(caps, "decodes", model_card["ref"], "labelling latents with a judge", fix)
    judge_card = store.judges.card(judge)
    check_judge(judge_card, model_card, store.models.spec(model_card).input_shape)
    return judge_card
