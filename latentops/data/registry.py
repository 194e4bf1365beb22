"""Dataset registry: ``get_dataset(name, **options)`` and ``list_datasets()``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from latentops.data.base import Dataset
from latentops.data.digits import Digits
from latentops.data.dsprites import DSprites
from latentops.data.files import open_data_file
from latentops.data.reviews import Reviews
from latentops.data.text import load_text_file
from latentops.errors import InvalidInputError, NotFoundError

_REGISTRY: dict[str, Callable[..., Dataset]] = {
    "dsprites": DSprites,
    "digits": Digits,
    # get_dataset("file", path="emb.parquet", vector_column="z"), or a folder of PNG/JPEG files
    "file": open_data_file,
    "reviews": Reviews,  # procedural review sentences with sentiment/topic/formality factors
    "texts": load_text_file,  # get_dataset("texts", path="my.csv", text_column="review")
}


def list_datasets() -> list[str]:
    """Names accepted by ``get_dataset``."""
    return sorted(_REGISTRY)


def get_dataset(name: str, **options: Any) -> Dataset:
    """Build the dataset registered under ``name`` with its keyword ``options``."""
    factory = _REGISTRY.get(name)
    if factory is None:
        raise NotFoundError(f"unknown dataset {name!r}; known datasets are {list_datasets()}")
    params = inspect.signature(factory).parameters
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise InvalidInputError(
            f"dataset {name!r} has no option(s) {unknown}; its options are {sorted(params)}"
        )
    missing = sorted(
        k
        for k, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and k not in options
    )
    if missing:
        raise InvalidInputError(
            f"dataset {name!r} needs option(s) {missing}; e.g. get_dataset({name!r}, "
            + ", ".join(f"{k}=..." for k in missing)
            + ")"
        )
    return factory(**options)
