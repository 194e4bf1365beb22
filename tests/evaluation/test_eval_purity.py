"""The evaluation layer is pure: no orchestration, storage or query-engine imports."""

from __future__ import annotations

import latentops.evaluation

FORBIDDEN = (
    "prefect",
    "duckdb",
    "deltalake",
    "latentops.storage",
    "latentops.tasks",
    "latentops.flows",
    "safetensors",
)


def test_every_public_name_is_exported_and_documented():
    for name in latentops.evaluation.__all__:
        obj = getattr(latentops.evaluation, name)
        assert obj.__doc__ and obj.__doc__.strip(), name
