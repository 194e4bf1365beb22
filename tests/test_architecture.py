"""DESIGN.md's dependency direction, checked on the code's own imports.

latent <- models, directions, evaluation <- storage <- tasks <- flows <- cli; the pure layers
never import prefect, duckdb, deltalake or storage; report reads the store only through
report/queries.py and never orchestrates; a task module imports no other task module (the
shared middle is storage and the pure layers, plus the private ``tasks._common``).
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
    "report": (
        "prefect",
        "duckdb",
        "deltalake",
        "latentops.tasks",
        "latentops.flows",
        "latentops.cli",
    ),
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


def test_report_reads_the_store_only_through_its_queries_module():
    for path in sorted((PACKAGE / "report").rglob("*.py")):
        if path.name == "queries.py":
            continue
        bad = [n for n in _imports(path) if n.startswith("latentops.storage")]
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}: go through queries"


def test_tasks_import_no_other_task_module():
    for path in sorted((PACKAGE / "tasks").glob("*.py")):
        siblings = [
            n
            for n in _imports(path)
            if n.startswith("latentops.tasks.") and not n.split(".")[2].startswith("_")
        ]
        assert not siblings, f"{path.relative_to(PACKAGE.parent)} imports task module {siblings}"


PUBLIC = ["latent", "models", "directions", "evaluation", "data", "storage"]


@pytest.mark.parametrize("layer", PUBLIC)
def test_public_names_are_exported_and_documented(layer):
    module = importlib.import_module(f"latentops.{layer}")
    assert module.__all__, f"latentops.{layer} has no __all__"
    for name in module.__all__:
        obj = getattr(module, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"latentops.{layer}.{name} has no docstring"
