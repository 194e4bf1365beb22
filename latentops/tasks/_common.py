"""Shared bits of the task layer: run ids, retry policies, datasets by name, evaluation checks."""

from __future__ import annotations

from typing import Any

from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from latentops.data import Dataset, get_dataset, open_data_file
from latentops.errors import InvalidInputError, LatentOpsError, VersionConflictError
from latentops.evaluation import TEXT_JUDGE, check_judge, resolve_target
from latentops.storage import Store, StoreAccessError
from latentops.storage.models import trained_on
from latentops.storage.resources import is_text, load_decoder


def current_run_id() -> str | None:
    """The Prefect flow-run id we are inside of, or None outside a flow."""
    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def retry_unless_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Retry transient failures (IO, commit races) but never LatentOpsError (bad input).

    Two LatentOpsErrors are transient: VersionConflictError (concurrent writers kept winning
    commit races) and StoreAccessError (the store's disk or object storage did not answer).
    """
    try:
        state.result()
    except (VersionConflictError, StoreAccessError):
        return True
    except LatentOpsError:
        return False
    except Exception:
        return True
    return False


# the retry policy of tasks that write once at the end (edits, scores)
RETRY = {"retries": 2, "retry_delay_seconds": [1, 5], "retry_condition_fn": retry_unless_bad_input}


def transient_retries(retries: int = 3, base_delay: float = 1.0) -> dict[str, Any]:
    """``@task``/``with_options`` kwargs: exponential backoff (base, 2x, 4x ...) with jitter.

    Jitter (up to +50% per delay) keeps workers that failed together on a shared store
    from retrying in lock step.
    """
    return {
        "retries": retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=base_delay),
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": retry_unless_bad_input,
    }


def open_dataset(name: str, options: dict[str, Any]) -> Dataset:
    """Built-in datasets by name; ``file`` means a user path (``path``: folder, Parquet, .npy)."""
    if name == "file":
        return open_data_file(**options)
    return get_dataset(name, **options)


def real_images(model_card: dict[str, Any], table_card: dict[str, Any]) -> Dataset:
    """The dataset that renders a table's real images, unsubset: the one the table was encoded
    from (its card's ``source``), else (prior samples, and tables from before the source was
    recorded) the model's training data.

    ``n_items`` only picks a subset of the same items, and a later encode may have used a
    larger one than training did (a served encode that grows the table); every item id
    renders the same pixels without it.
    """
    source = table_card.get("source")  # {dataset, options}, or SAMPLED for prior samples
    if isinstance(source, dict):
        name, options = source["dataset"], dict(source["options"])
    else:
        name, options = trained_on(model_card)
    return open_dataset(name, {k: v for k, v in options.items() if k != "n_items"})


def check_evaluation(
    store: Store, card: dict[str, Any], judge: str, refs: list[str], target: str | None
) -> tuple[str, dict[str, str]]:
    """Before any write: the judge fits the model's images and sees every direction's target."""
    net, _ = load_decoder(store, card, "cpu")
    judge_card = store.judges.card(judge)
    check_judge(judge_card, store.models.card(card["model"]), net.x_shape)
    targets = {}
    for ref in refs:
        _, lineage, _ = store.directions.get(ref)
        targets[ref] = resolve_target(target, lineage.label_spec, judge_card, ref)[2]
    return judge_card["ref"], targets


def uses_text_judges(store: Store, card: dict[str, Any], judge: str, table: str) -> bool:
    """True for a text table judged by the text judges; refuses text/image mismatches."""
    text = is_text(store, card)
    if text and judge != TEXT_JUDGE:
        raise InvalidInputError(
            f"latent table {table!r} holds text latents ({card['model']}), which image judge "
            f"{judge!r} cannot score; pass --judge {TEXT_JUDGE} (VADER sentiment, ground-truth "
            "topic, embedding cosine to the source)"
        )
    if not text and judge == TEXT_JUDGE:
        raise InvalidInputError(
            f"judge {TEXT_JUDGE!r} scores sentences, but latent table {table!r} holds latents of "
            f"{card['model']}, which are not texts; pass an image judge (latentops judges list)"
        )
    return text
