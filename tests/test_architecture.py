"""DESIGN.md's dependency direction, checked on the code's own imports.

latent <- models, directions, evaluation <- tasks <- flows <- cli; storage is used by tasks,
flows and cli only; the pure layers never import prefect, duckdb, deltalake or storage.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "latentops"
IO_AND_ORCHESTRATION = (
    "prefect",
    "duckdb",
    "deltalake",
    "safetensors",
    "latentops.storage",
    "latentops.tasks",
    "latentops.flows",
    "latentops.cli",
)
RULES = {
    "latent": IO_AND_ORCHESTRATION
    + ("latentops.models", "latentops.directions", "latentops.evaluation"),
    "models": IO_AND_ORCHESTRATION,
    "directions": IO_AND_ORCHESTRATION,
    "evaluation": IO_AND_ORCHESTRATION,
    "data": IO_AND_ORCHESTRATION,
    "storage": ("prefect", "latentops.tasks", "latentops.flows", "latentops.cli"),
    "tasks": ("latentops.flows", "latentops.cli"),
    "flows": ("latentops.cli",),
}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_follow_the_design(layer):
    banned = RULES[layer]
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        bad = [n for n in _imports(path) if n == banned or n.startswith(banned)]
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}"


PUBLIC = ["latent", "models", "directions", "evaluation", "data", "storage"]


@pytest.mark.parametrize("layer", PUBLIC)
def test_public_names_are_exported_and_documented(layer):
    module = importlib.import_module(f"latentops.{layer}")
    assert module.__all__, f"latentops.{layer} has no __all__"
    for name in module.__all__:
        obj = getattr(module, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"latentops.{layer}.{name} has no docstring"
