"""One local Prefect API per user and machine, shared by every latentops process.

Without ``PREFECT_API_URL`` Prefect starts an ephemeral server per process: concurrent commands
race to start servers on one SQLite file and time out, and a ``kill -9``-ed command orphans its
server. Instead the first command starts ``python -m latentops.flows.local_api`` detached, later
commands reuse it, and it stops itself once no latentops process has used it for ``IDLE_S``.

Files under ``api_dir()`` (``$LATENTOPS_STATE_DIR/prefect-api``, default ``~/.latentops``):

- ``server.lock``: held exclusively while a client checks, or starts, the server.
- ``clients.lock``: every client holds a shared flock on it for its lifetime. The kernel drops a
  lock when its process dies (``kill -9`` included), so the server sees idleness without
  heartbeats; once idle it takes the lock exclusively and keeps it until it has exited, so a
  client never picks up a server that is going away.
- ``state.json``: ``{"pid", "url"}`` of the running server, written by the server once it listens.
- ``server.log`` (its output) and ``prefect/`` (its PREFECT_HOME and SQLite database).

This module imports no prefect at import time: the server process imports it to serve.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from latentops.errors import OrchestrationError

IDLE_S = 600.0  # long enough that the next command reuses the server (a start costs 5-30 s)
START_TIMEOUT_S = 240.0  # a first start migrates a new database; a loaded 2-core box is slow
_HINT = (
    "run `prefect server start` in another shell and "
    "export PREFECT_API_URL=http://127.0.0.1:4200/api"
)

_lease: IO[str] | None = None  # this process's shared lock on clients.lock, held until exit
_spawned: list[subprocess.Popen[bytes]] = []  # servers this process started (kept from GC)


def api_dir() -> Path:
    """Where the shared server keeps its lock, state, log and database."""
    root = os.environ.get("LATENTOPS_STATE_DIR") or Path.home() / ".latentops"
    return Path(root) / "prefect-api"


def ensure_api(timeout: float = START_TIMEOUT_S) -> str:
    """The Prefect API URL this process must use, starting the shared local server if needed.

    A configured ``PREFECT_API_URL`` (environment, profile, or a test harness) wins and is only
    checked for reachability. Otherwise the URL of the shared local server is exported as
    ``PREFECT_API_URL`` for this process and its children (Dask workers).
    """
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    if configured:
        if not _reachable(configured, 10.0):
            raise OrchestrationError(
                f"the Prefect API at PREFECT_API_URL={configured} does not answer; start that "
                "server, or unset PREFECT_API_URL to let latentops run a local one"
            )
        return configured
    try:
        url = _local_server(api_dir(), timeout)
    except OSError as exc:  # an unwritable state directory, no free port, ...
        raise OrchestrationError(
            f"could not start a local Prefect server ({exc}); set LATENTOPS_STATE_DIR to a "
            f"writable directory, or {_HINT}"
        ) from exc
    os.environ["PREFECT_API_URL"] = url
    import prefect.context

    prefect.context.refresh_global_settings_context()  # settings were read at prefect import
    return url


def stop(directory: Path | None = None, timeout: float = 30.0) -> bool:
    """Stop the shared server recorded under ``directory``; True when one was running."""
    directory = directory or api_dir()
    state = _read_state(directory)
    if state is None or not _alive(state["pid"]):
        return False
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(state["pid"]):
        os.kill(state["pid"], signal.SIGKILL)
    return True


# -- client side --------------------------------------------------------------------------------


def _local_server(directory: Path, timeout: float) -> str:
    global _lease
    directory.mkdir(parents=True, exist_ok=True)
    if _lease is None:
        lease = open(directory / "clients.lock", "a+")  # noqa: SIM115 - held until exit
        fcntl.flock(lease, fcntl.LOCK_SH)  # waits out a server that is shutting down
        _lease = lease
    with _locked(directory / "server.lock"):
        state = _read_state(directory)
        if state is not None and _alive(state["pid"]):
            if _wait_healthy(state["url"], timeout, lambda: _alive(state["pid"])):
                return state["url"]
            raise OrchestrationError(
                f"the local Prefect server (pid {state['pid']}, {state['url']}) does not answer; "
                f"stop it (kill {state['pid']}) and retry, or {_HINT}"
            )
        return _start(directory, timeout)


def _start(directory: Path, timeout: float) -> str:
    home = directory / "prefect"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_LOGGING_LEVEL="WARNING",
        PREFECT_UI_ENABLED="false",
        # Ephemeral services: events, logs and triggers, without the scheduler's polling.
        PREFECT__SERVER_EPHEMERAL="1",
        DO_NOT_TRACK="1",
    )
    with open(directory / "server.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "latentops.flows.local_api", "--dir", str(directory)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=directory,
            start_new_session=True,  # not in the command's process group: Ctrl-C spares it
        )
    _spawned.append(proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        state = _read_state(directory)
        if state is not None and state["pid"] == proc.pid:
            if _wait_healthy(
                state["url"], deadline - time.monotonic(), lambda: proc.poll() is None
            ):
                return state["url"]
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    raise OrchestrationError(
        f"could not start a local Prefect server (exit {proc.returncode}, log "
        f"{directory / 'server.log'}); {_HINT}"
    )


def _wait_healthy(url: str, timeout: float, running: Any) -> bool:
    deadline = time.monotonic() + timeout
    while running():
        if _healthy(url):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return False


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _reachable(url: str, timeout: float) -> bool:
    """Whether anything answers at ``url`` (an HTTP error such as 401 is an answer)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, urllib.error.URLError):
        return False


# -- shared ---------------------------------------------------------------------------------------


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _read_state(directory: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((directory / "state.json").read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(state, dict) and isinstance(state.get("pid"), int) and "url" in state
    return state if ok else None


def _alive(pid: int) -> bool:
    """Whether ``pid`` is running and, where /proc tells, is a latentops server (not a reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return b"latentops.flows.local_api" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # no /proc (macOS): trust the pid
        return True


# -- server side ----------------------------------------------------------------------------------


def serve(directory: Path, idle_s: float = IDLE_S) -> None:
    """Serve the Prefect API on a free 127.0.0.1 port until no client has used it for idle_s."""
    import uvicorn
    from prefect.server.api.server import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the kernel picks the port: no race with other servers
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app, factory=True, lifespan="on", log_level="warning")
    )
    url = f"http://127.0.0.1:{port}/api"
    watcher = threading.Thread(
        target=_watch, args=(server, directory, url, idle_s), daemon=True, name="idle-watch"
    )
    watcher.start()
    try:
        server.run(sockets=[sock])
    finally:
        state = _read_state(directory)
        if state is not None and state["pid"] == os.getpid():
            (directory / "state.json").unlink(missing_ok=True)


_held: list[IO[str]] = []  # the exclusive clients.lock of a server shutting down


def _watch(server: Any, directory: Path, url: str, idle_s: float) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.1)
    tmp = directory / f"state.{os.getpid()}.json"
    tmp.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    tmp.replace(directory / "state.json")  # atomic: clients never read half a file
    clients = open(directory / "clients.lock", "a+")  # noqa: SIM115 - held until exit
    poll = min(5.0, max(0.2, idle_s / 10))
    idle_since: float | None = None
    while not server.should_exit:
        time.sleep(poll)
        try:
            fcntl.flock(clients, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # some client holds a lease
            idle_since = None
            continue
        now = time.monotonic()
        idle_since = now if idle_since is None else idle_since
        if now - idle_since >= idle_s:
            # Keep the exclusive lock until exit: arriving clients wait, then start a new server.
            _held.append(clients)
            (directory / "state.json").unlink(missing_ok=True)
            server.should_exit = True
            return
        fcntl.flock(clients, fcntl.LOCK_UN)


def _main() -> None:
    parser = argparse.ArgumentParser(description="latentops' shared local Prefect API server")
    parser.add_argument(
        "--dir", type=Path, default=None, help="state directory (default: api_dir())"
    )
    args = parser.parse_args()
    # The environment knob exists for tests, which cannot wait ten minutes to see it stop.
    serve(args.dir or api_dir(), float(os.environ.get("LATENTOPS_API_IDLE_S", IDLE_S)))


if __name__ == "__main__":
    _main()
