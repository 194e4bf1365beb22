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


def test_every_public_name_is_exported_and_documented():
    for name in latentops.evaluation.__all__:
        obj = getattr(latentops.evaluation, name)
        assert obj.__doc__ and obj.__doc__.strip(), name


def test_no_evaluation_module_imports_io_or_orchestration():
    folder = Path(latentops.evaluation.__file__).parent
    for path in sorted(folder.rglob("*.py")):
        names = []
        for node in ast.walk(ast.parse(path.read_text())):  # TYPE_CHECKING imports count too
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.append(node.module or "")
        bad = [n for n in names if n.startswith(FORBIDDEN)]
        assert not bad, f"{path.name} imports {bad}"
