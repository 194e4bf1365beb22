"""The production pairing: a real `prefect server start` on PostgreSQL (infra/docker-compose.yaml).

PostgreSQL from Debian's packages (`apt-get install postgresql`) runs on 127.0.0.1 in a temporary
folder, as the `postgres` user when the tests run as root (initdb refuses root). `latentops
serve` runs the scheduled chain through that server: encode -> (event) refit -> (event)
re-evaluate, then maintain-store; then 4 concurrent CLI commands use the same server.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from uuid import UUID

import pytest

from latentops.directions import fit_direction
from latentops.storage import DirectionLineage
from latentops.storage.latents import z_matrix
from tests.flows.test_server import (
    TABLE,
    _add_judge,
    _deployment,
    _free_port,
    _start,
    _stop,
    _store_with_model,
    _wait_for,
    prefect_server,
)

pytestmark = pytest.mark.slow


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


INITDB, PG_CTL, PSQL = _pg_bin("initdb"), _pg_bin("pg_ctl"), _pg_bin("psql")


def _as_owner(cmd: list[str]) -> list[str]:
    """``cmd`` as the ``postgres`` user when we are root: PostgreSQL refuses to run as root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL on 127.0.0.1; yields (port, run psql query)."""
    if not (INITDB and PG_CTL and PSQL):
        pytest.skip("PostgreSQL binaries not found: apt-get install -y postgresql (see .ci/run)")
    # not under pytest's tmp folders: those are private to root, and postgres must reach it
    base = Path(tempfile.mkdtemp(prefix="latentops-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    init = subprocess.run(
        _as_owner([INITDB, "-D", str(data), "-U", "latentops", "-A", "trust", "--no-sync"]),
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    port = _free_port()
    opts = f"-h 127.0.0.1 -p {port} -k {sock} -c fsync=off -c max_connections=200"
    log = base / "postgres.log"
    start = subprocess.run(
        _as_owner([PG_CTL, "-D", str(data), "-l", str(log), "-o", opts, "-w", "start"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert start.returncode == 0, start.stdout + start.stderr

    def psql(query: str) -> str:
        args = [PSQL, "-h", "127.0.0.1", "-p", str(port), "-U", "latentops", "-d", "postgres"]
        return subprocess.run(
            [*args, "-tAc", query], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        yield port, psql
    finally:
        subprocess.run(_as_owner([PG_CTL, "-D", str(data), "-m", "immediate", "stop"]))
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_server(postgres, tmp_path_factory):
    """`prefect server start` with its database on that PostgreSQL; yields (url, client env)."""
    database = f"postgresql+asyncpg://latentops@127.0.0.1:{postgres[0]}/postgres"
    with prefect_server(
        tmp_path_factory.mktemp("prefect-pg-home"),
        "prefect server start on PostgreSQL",
        {"PREFECT_API_DATABASE_CONNECTION_URL": database},
        timeout=180,
    ) as got:
        yield got


@pytest.fixture
def pg_api(pg_server):
    """This process's Prefect client, pointed at the PostgreSQL-backed server."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: pg_server[0]}):
        with get_client(sync_client=True) as client:
            yield client


def test_scheduled_chain_and_concurrent_commands_on_a_postgres_backed_server(
    pg_server, pg_api, postgres, tmp_path
):
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowFilter,
        FlowFilterName,
    )
    from prefect.deployments import run_deployment

    url, env = pg_server
    psql = postgres[1]
    store = _store_with_model(tmp_path / "store")
    _add_judge(store)
    root = str(store.root)
    log = tmp_path / "serve.log"
    serve = [
        *("serve", "--model", "vae@1", "--name", "pg", "--encode-interval", "3600"),
        *("--judge", "judge", "--eval-strengths", "-1,0,1", "--eval-sample", "16"),
        *("--maintain-interval", "3600", "--maintain-older-than", "0", "--store", root),
    ]
    proc = _start([sys.executable, "-m", "latentops", *serve], env, log)
    try:
        _wait_for(lambda: _deployment(pg_api, "maintain-store/pg"), proc, log, "latentops serve")
        # 1. encode, then a direction on that version, then a second encode adds items
        run = run_deployment("encode-new-items/pg", timeout=240, poll_interval=1)
        assert run.state.is_completed(), run.state
        table = store.latent_table(TABLE)
        snap = table.read()
        fitted = fit_direction(z_matrix(snap), snap["pos_x"].to_numpy(), "ridge", label="pos_x")
        lineage = DirectionLineage(
            latent_table=TABLE,
            latent_table_version=table.version,
            model="vae@1",
            model_sha256=table.card["model_sha256"],
        )
        store.directions.register("right", fitted, lineage)
        more = {"spec": {"model": "vae@1", "options": {"n_items": 400}}}
        run = run_deployment("encode-new-items/pg", parameters=more, timeout=240, poll_interval=1)
        assert run.state.is_completed(), run.state
        # 2. the server's automation on its event runs refit: right@2
        row = _wait_for(
            lambda: next((r for r in store.directions.list().to_pylist() if r["version"] == 2), 0),
            proc,
            log,
            "refit triggered by the encode event",
            timeout=240,
        )
        assert (row["name"], row["parent"]) == ("right", "right@1")
        refit_run = pg_api.read_flow_run(UUID(row["run_id"]))
        assert refit_run.deployment_id == _deployment(pg_api, "refit-directions/pg").id
        # 3. ...whose one event runs re-evaluate: right@2 scored with judge@1
        key = ArtifactFilter(key=ArtifactFilterKey(any_=["scorecards-judge-1"]))
        (artifact,) = _wait_for(
            lambda: pg_api.read_artifacts(artifact_filter=key),
            proc,
            log,
            "re-evaluate triggered by the refit event",
            timeout=240,
        )
        assert [e["direction"] for e in json.loads(artifact.data)] == ["right@2"]
        # 4. maintain-store: compacts the two encodes' files, time travel to pinned v1 intact
        before = table.read(version=lineage.latent_table_version)
        run = run_deployment("maintain-store/pg", timeout=240, poll_interval=1)
        assert run.state.is_completed(), run.state
        assert table.read(version=lineage.latent_table_version).equals(before)
    finally:
        _stop(proc)

    # 5. four CLI commands at once, each its own process, all against this server
    fit = ("directions", "fit", "-t", TABLE, "-l", "shape==2", "-n", "heart", "-s", root)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "latentops", *fit],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outs]
    versions = [r["version"] for r in store.directions.list().to_pylist() if r["name"] == "heart"]
    assert sorted(versions) == [1, 2, 3, 4]
    flows = FlowFilter(name=FlowFilterName(any_=["fit-directions"]))
    runs = pg_api.read_flow_runs(flow_filter=flows)
    assert len(runs) == 4 and all(r.state.is_completed() for r in runs)
    # the runs live in PostgreSQL, not in a SQLite file
    assert int(psql("SELECT count(*) FROM flow_run")) >= 8
    assert not list(Path(env["PREFECT_HOME"]).glob("*.db"))
