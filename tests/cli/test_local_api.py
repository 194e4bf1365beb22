"""latentops' shared local Prefect server: one per machine, reused, gone when idle or orphaned."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ENSURE = "from latentops.flows.local_api import ensure_api; print(ensure_api(), flush=True)"


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_commands_share_one_server_which_outlives_no_client(cli_env, tmp_path):
    env = {**cli_env, "LATENTOPS_STATE_DIR": str(tmp_path), "LATENTOPS_API_IDLE_S": "3"}
    state_file = tmp_path / "prefect-api" / "state.json"
    first = subprocess.run([sys.executable, "-c", ENSURE], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith("http://127.0.0.1:")
    pid = json.loads(state_file.read_text())["pid"]

    # A second command, and a long-running third one, reuse the same server.
    second = subprocess.run([sys.executable, "-c", ENSURE], env=env, capture_output=True, text=True)
    assert second.stdout.strip() == url
    holder = subprocess.Popen(
        [sys.executable, "-c", ENSURE + "; import time; time.sleep(600)"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == url
        time.sleep(6)  # twice the idle time: the running command's lease keeps the server up
        os.kill(pid, 0)
    finally:
        holder.send_signal(signal.SIGKILL)  # a kill -9-ed command must not orphan the server
        holder.wait()
    assert _wait_gone(pid, 60), "the server outlived every client"
    assert not state_file.exists()


def test_unreachable_api_url_is_one_line_and_writes_nothing(cli, cli_env, tmp_path):
    env = {**cli_env, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    out = cli("demo", "--store", str(tmp_path / "s"), env=env)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "PREFECT_API_URL=http://127.0.0.1:9/api" in lines[0]
    assert {p.name for p in (tmp_path / "s").iterdir()} <= {"latentops.json"}  # no table


def test_no_server_can_start_is_one_line_saying_what_to_run(cli, cli_env, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    env = {**cli_env, "LATENTOPS_STATE_DIR": str(blocker)}
    out = cli("demo", "--store", str(tmp_path / "s"), env=env)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "prefect server start" in lines[0] and "Traceback" not in out.stderr
