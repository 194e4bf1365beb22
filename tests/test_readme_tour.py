"""The README tour and every hint latentops prints run as printed.

The tour runs verbatim, one command at a time through bash, in an empty directory, scaled down
only through the environment variables the tour itself reads (``N``, ``EPOCHS``). Every
``latentops ...`` hint that a tour command prints is then run as printed too (the demo's hints:
tests/cli/test_demo.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._shell import check_ok, hints, run_line

ROOT = Path(__file__).resolve().parents[1]
TOUR = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[2]
BIN = Path(sys.executable).parent
SMALL = {"N": "1500", "EPOCHS": "1"}
# Long-running commands: started, checked to be alive and serving, then stopped.
SERVICES = ("latentops serve",)


def _commands(block: str) -> list[str]:
    """The tour's logical lines: continuations joined, comments and blank lines dropped."""
    lines = []
    for line in block.replace("\\\n", " ").splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(stripped)
    return lines


def _is_assignment(line: str) -> bool:
    return line.startswith("export ") or re.match(r"^[A-Z_]+=", line) is not None


def _env_after(line: str, env: dict[str, str], cwd: Path) -> dict[str, str]:
    """The environment after running an assignment line (``set -a`` exports plain ones)."""
    out = subprocess.run(
        ["bash", "-c", f"set -a; {line}\nenv -0"],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def _serve(line: str, env: dict[str, str], cwd: Path, log: Path) -> str:
    """Start a long-running command, check it serves for a while, stop it; its output."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {line}"],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.time() + 180
        while time.time() < deadline and "serving" not in log.read_text():
            assert proc.poll() is None, f"{line!r} exited {proc.returncode}:\n{log.read_text()}"
            time.sleep(1)
        assert "serving" in log.read_text(), f"{line!r} never started:\n{log.read_text()}"
        time.sleep(5)
        assert proc.poll() is None, f"{line!r} stopped serving:\n{log.read_text()}"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return log.read_text()


@pytest.fixture(scope="module")
def tour_env(cli_env):
    """The CLI subprocess environment with the venv first on PATH and the tour's sizes small."""
    base = {k: v for k, v in cli_env.items() if not k.startswith("LATENTOPS_STORE")}
    return {**base, **SMALL, "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}"}


@pytest.mark.slow
def test_readme_tour_runs_verbatim_and_its_hints_run(tour_env, tmp_path):
    env, cwd = dict(tour_env), tmp_path
    printed: list[tuple[str, str]] = []
    for line in _commands(TOUR):
        if _is_assignment(line):
            env = _env_after(line, env, cwd)
            continue
        if line.startswith(SERVICES):
            printed.append((line, _serve(line, env, cwd, tmp_path / "serve.log")))
            continue
        result = run_line(line, env, cwd)
        check_ok(line, result)
        printed.append((line, result.stdout + result.stderr))
    tour = {" ".join(line.split()) for line in _commands(TOUR)}
    to_run = {h for _, out in printed for h in hints(out) if " ".join(h.split()) not in tour}
    for hint in sorted(to_run):
        if hint.startswith(SERVICES):
            _serve(hint, env, cwd, tmp_path / "hint-serve.log")
            continue
        check_ok(hint, run_line(hint, env, cwd))
