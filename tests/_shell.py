"""Running command lines as a user types them (through bash), and the hints latentops prints."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# A hint is a line (or a backticked span) that starts with the command name.
HINT = re.compile(r"(?:^|[\s`])(latentops [a-z][a-z-]*(?=[\s`]|$)[^`\n]*)", re.M)


def hints(output: str) -> list[str]:
    """Every ``latentops ...`` hint in a command's output, as printed."""
    return [match.strip() for match in HINT.findall(output)]


def run_line(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one command line through bash, no stdin, output captured."""
    return subprocess.run(
        ["bash", "-c", line],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )


def check_ok(line: str, result: subprocess.CompletedProcess[str]) -> None:
    """The line exited 0 and printed no traceback."""
    assert result.returncode == 0, (
        f"{line!r} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    assert "Traceback" not in result.stderr, f"{line!r}:\n{result.stderr[-3000:]}"
