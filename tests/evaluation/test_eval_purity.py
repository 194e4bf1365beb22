"""The evaluation layer is pure: no orchestration, storage or query-engine imports."""

from __future__ import annotations

import ast
from pathlib import Path

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


def test_evaluation_modules_import_nothing_impure():
    root = Path(latentops.evaluation.__file__).parent
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            bad = [n for n in names if n.startswith(FORBIDDEN)]
            assert not bad, f"{path.name} imports {bad}"


def test_every_public_name_is_exported_and_documented():
    for name in latentops.evaluation.__all__:
        obj = getattr(latentops.evaluation, name)
        assert obj.__doc__ and obj.__doc__.strip(), name
