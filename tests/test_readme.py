"""The README's set-up commands and tour stay true: CI runs the same test command, and
every command the tour names exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from latentops.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)
GENERATORS = re.search(r"## Generators without an encoder\n.*?```bash\n(.*?)```", README, re.S)[1]


def test_first_two_commands_install_demo_and_test():
    install_demo, install_test = BLOCKS[0].strip(), BLOCKS[1].strip()
    assert install_demo.endswith("latentops demo") and "torch==2.13.0" in install_demo
    assert "pytest" in install_test and '".[dev]"' in install_test
    assert install_test in (ROOT / ".ci" / "run").read_text()


def _tour_commands(*blocks: str) -> list[list[str]]:
    commands = []
    for line in "\n".join(blocks).replace("\\\n", " ").splitlines():
        line = (
            line.split("#", 1)[0].strip() if not line.strip().startswith("latentops sql") else line
        )
        if line.startswith("latentops "):
            words = shlex.split(line)[1:]
            path = [
                w for w in words[:2] if not w.startswith("-") and w.isidentifier() or w == "fit-all"
            ]
            commands.append(
                path[:2] if path and path[0] in ("directions", "models", "tables") else path[:1]
            )
    return commands


@pytest.mark.parametrize("command", _tour_commands(BLOCKS[2], GENERATORS), ids=" ".join)
def test_tour_commands_exist(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0, capsys.readouterr().err
