"""Deployments against a real local Prefect server (SQLite), served and deployed end to end.

One `prefect server start` per module on 127.0.0.1. The served test runs `latentops serve` in
a subprocess, triggers the encode deployment through the API, and checks the chain of events:
the encode's event makes the server run the refit deployment, and the refit's event makes it
run the re-evaluate deployment, which scores the new direction version. The deploy test registers
infra/prefect.yaml with `prefect deploy` and runs it on a real process worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest
import torch

from latentops.data import get_dataset
from latentops.data.dsprites import FACTOR_SIZES
from latentops.directions import fit_direction
from latentops.errors import InvalidInputError, NotFoundError
from latentops.evaluation import AttributePredictor, PredictorConfig
from latentops.flows._lineage import DIRECTION_REGISTERED, LATENTS_UPDATED
from latentops.flows.deployments import build_deployments, dataset_for
from latentops.flows.params import EncodeSpec
from latentops.flows.reevaluate import ReevaluateSpec
from latentops.models import build_model
from latentops.storage import DirectionLineage, Store
from latentops.storage.judges import JudgeRegistry
from latentops.storage.latents import z_matrix
from latentops.storage.scores import ScoresTable

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
OPTS = {"image_size": 32, "n_items": 200}
TABLE = "dsprites_vae_v1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Own process group, so the finaliser ends the process and everything it spawned.
    with open(log, "wb") as out:
        return subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for(check, proc: subprocess.Popen, log: Path, what: str, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what}: process exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what}: timed out after {timeout} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def prefect_server(home: Path, what: str, server_env: dict[str, str] | None = None, timeout=120):
    """A real `prefect server start` on a free local port (``server_env`` adds settings to the
    server only); yields (api url, env for clients of it)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env = {
        **base,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    log = home / "server.log"
    proc = _start(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        {**env, **(server_env or {})},
        log,
    )
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        _wait_for(healthy, proc, log, what, timeout=timeout)
        yield url, {**env, "PREFECT_API_URL": url, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `prefect server start` on a free local port; yields (api url, env for clients)."""
    with prefect_server(tmp_path_factory.mktemp("prefect-home"), "prefect server start") as got:
        yield got


@pytest.fixture
def api(server):
    """Point this process's Prefect client at the real server (not the session harness)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server[0]}):
        with get_client(sync_client=True) as client:
            yield client


def _store_with_model(root: Path) -> Store:
    """A store with an (untrained, seeded) vae@1 registered as trained on OPTS."""
    torch.manual_seed(0)
    store = Store.open(root)
    model = build_model("vae", latent_dim=4, image_size=32, in_channels=1)
    store.models.register(
        "vae",
        model,
        dataset="dsprites",
        dataset_fingerprint="seed0",
        train={"dataset_options": OPTS},
        metrics={},
    )
    return store


def _add_judge(store: Store) -> str:
    """An (untrained, seeded) judge of 32 px dSprites images registered as judge@1."""
    torch.manual_seed(0)
    sizes = {k: v for k, v in FACTOR_SIZES.items() if v >= 2}
    judge = AttributePredictor(PredictorConfig(in_channels=1, image_size=32, factor_sizes=sizes))
    ref = JudgeRegistry(store.root).register(
        "judge",
        judge,
        dataset="dsprites",
        dataset_fingerprint="seed0",
        dataset_options=OPTS,
        train={},
        metrics={},
    )
    return str(ref)


def _deployment(client, name: str):
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name(name)
    except ObjectNotFound:
        return None


@pytest.mark.slow
def test_served_encode_triggers_refit_which_triggers_reevaluate(server, api, tmp_path):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.deployments import run_deployment

    url, env = server
    store = _store_with_model(tmp_path / "store")
    _add_judge(store)
    log = tmp_path / "serve.log"
    proc = _start(
        [
            sys.executable,
            "-m",
            "latentops",
            "serve",
            "--model",
            "vae@1",
            "--name",
            "t",
            "--encode-interval",
            "3600",
            "--judge",
            "judge",
            "--eval-strengths",
            "-1,0,1",
            "--eval-sample",
            "32",
            "--store",
            str(store.root),
        ],
        env,
        log,
    )
    try:
        _wait_for(lambda: _deployment(api, "reevaluate-directions/t"), proc, log, "latentops serve")

        # 1. A run through the API: the served process encodes every item, exactly once.
        run = run_deployment("encode-new-items/t", timeout=180, poll_interval=1)
        assert run.state.is_completed(), run.state
        table = store.latent_table(TABLE)
        np.testing.assert_array_equal(table.item_ids(), get_dataset("dsprites", **OPTS).item_ids())
        # Lineage both ways: the commit names the flow run; the run's artifact names the version.
        commit = table.history()[0]
        encode_run = api.read_flow_run(UUID(commit["run_id"]))
        assert api.read_flow(encode_run.flow_id).name == "encode"
        key = ArtifactFilter(key=ArtifactFilterKey(any_=["latents-dsprites-vae-v1"]))
        artifacts = api.read_artifacts(artifact_filter=key)
        assert [a.flow_run_id for a in artifacts] == [encode_run.id]
        assert json.loads(artifacts[0].data)[0]["version"] == table.version

        # 2. A direction fitted on this version, then the table grows by a second run.
        snap = table.read()
        fitted = fit_direction(z_matrix(snap), snap["pos_x"].to_numpy(), "ridge", label="pos_x")
        old_version = table.version
        store.directions.register(
            "right",
            fitted,
            DirectionLineage(
                latent_table=TABLE,
                latent_table_version=old_version,
                model="vae@1",
                model_sha256=table.card["model_sha256"],
            ),
        )
        more = {"spec": {"model": "vae@1", "options": {"n_items": 400}}}
        run = run_deployment("encode-new-items/t", parameters=more, timeout=180, poll_interval=1)
        assert run.state.is_completed(), run.state
        # Only the items not in the table yet were encoded: the table is the union, once each.
        both = np.union1d(
            get_dataset("dsprites", **OPTS).item_ids(),
            get_dataset("dsprites", **{**OPTS, "n_items": 400}).item_ids(),
        )
        np.testing.assert_array_equal(table.item_ids(), both)
        assert table.version > old_version

        # 3. Its `latentops.latents.updated` event triggers the refit deployment on the server.
        def refit() -> dict | None:
            rows = store.directions.list().to_pylist()
            return rows[-1] if len(rows) == 2 else None

        row = _wait_for(refit, proc, log, "refit triggered by the encode event")
        assert (row["name"], row["version"], row["parent"]) == ("right", 2, "right@1")
        assert row["latent_table_version"] == table.version and row["method"] == "ridge"
        refit_run = api.read_flow_run(UUID(row["run_id"]))
        assert refit_run.deployment_id == _deployment(api, "refit-directions/t").id
        assert refit_run.state.is_completed() or refit_run.state.is_running()

        # 4. Its `latentops.direction.registered` event triggers re-evaluate: right@2 (the
        # newest version, not right@1) gets a scorecard with judge@1, recorded as an artifact.
        key = ArtifactFilter(key=ArtifactFilterKey(any_=["scorecards-judge-1"]))
        (artifact,) = _wait_for(
            lambda: api.read_artifacts(artifact_filter=key), proc, log, "re-evaluate triggered"
        )
        (entry,) = json.loads(artifact.data)
        assert (entry["direction"], entry["judge"]) == ("right@2", "judge@1")
        reevaluate_run = api.read_flow_run(artifact.flow_run_id)
        assert reevaluate_run.deployment_id == _deployment(api, "reevaluate-directions/t").id
        scores = ScoresTable(store.table_uri("scores")).read(kind="edit").to_pylist()
        assert {(r["direction"], r["judge"], r["run_id"]) for r in scores} == {
            ("right@2", "judge@1", entry["run_id"])
        }
        assert {r["strength"] for r in scores} >= {-1.0, 0.0, 1.0}
        assert {r["n_items"] for r in scores} == {32}
    finally:
        _stop(proc)


@pytest.mark.slow
def test_prefect_yaml_deploys_and_runs_on_a_process_worker(server, api, tmp_path):
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments import run_deployment

    url, env = server
    store = _store_with_model(tmp_path / "store")
    env = {**env, "LATENTOPS_HOME": str(REPO), "LATENTOPS_STORE": str(store.root)}
    api.create_work_pool(WorkPoolCreate(name="latentops", type="process"))
    api.create_work_pool(WorkPoolCreate(name="latentops-gpu", type="process", concurrency_limit=1))
    deploy = subprocess.run(
        [PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", "infra/prefect.yaml"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-3000:]
    encode = api.read_deployment_by_name("encode-new-items/latentops")
    assert encode.parameters["spec"]["model"] == "vae"
    assert encode.global_concurrency_limit.limit == 1
    assert [s.schedule.cron for s in encode.schedules] == ["0 * * * *"]
    refit = api.read_deployment_by_name("refit-directions/latentops")
    gpu = api.read_deployment_by_name("encode-new-items/latentops-gpu")
    assert (refit.work_pool_name, gpu.work_pool_name) == ("latentops", "latentops-gpu")
    assert gpu.parameters["spec"]["device"] == "cuda" and not gpu.schedules
    reevaluate = api.read_deployment_by_name("reevaluate-directions/latentops")
    assert reevaluate.parameters["spec"]["judge"] == "dsprites-judge"
    for deployment, event in ((refit, LATENTS_UPDATED), (reevaluate, DIRECTION_REGISTERED)):
        automations = api.read_resource_related_automations(f"prefect.deployment.{deployment.id}")
        assert [sorted(a.trigger.expect) for a in automations] == [[event]]

    run = run_deployment("encode-new-items/latentops", timeout=0)
    log = tmp_path / "worker.log"
    worker = _start([PREFECT, "worker", "start", "--pool", "latentops", "--run-once"], env, log)
    try:
        worker.wait(240)
    finally:
        _stop(worker)
    state = api.read_flow_run(run.id).state
    assert state.is_completed(), f"{state}\n{log.read_text()[-3000:]}"
    ids = store.latent_table(TABLE).item_ids()
    np.testing.assert_array_equal(ids, get_dataset("dsprites", **OPTS).item_ids())


def test_build_deployments_schedules_encode_and_triggers_refit_on_this_store(tmp_path):
    store = _store_with_model(tmp_path / "store")
    spec = EncodeSpec(model="vae")
    encode, refit = build_deployments(spec, store=str(store.root), name="n", interval=60)
    assert (encode.name, encode.flow_name, refit.flow_name) == (
        "n",
        "encode-new-items",
        "refit-directions",
    )
    assert encode.schedules[0].schedule.interval.total_seconds() == 60
    assert encode.parameters == {"spec": spec.model_dump(), "store": str(store.root)}
    assert encode.entrypoint == "latentops.flows.deployments.encode_new_items"
    (trigger,) = refit.triggers
    assert trigger.expect == {LATENTS_UPDATED}
    assert trigger.match.root["latentops.store"] == str(store.root)
    (cron,) = build_deployments(spec, store=str(store.root), cron="0 * * * *", refit=False)
    assert cron.schedules[0].schedule.cron == "0 * * * *"
    _add_judge(store)
    scoring = ReevaluateSpec(judge="judge", sample=64)
    *_, reevaluate = build_deployments(spec, store=str(store.root), reevaluate=scoring)
    assert reevaluate.flow_name == "reevaluate-directions"
    assert reevaluate.entrypoint == "latentops.flows.reevaluate.reevaluate_flow"
    assert reevaluate.parameters == {"spec": scoring.model_dump(), "store": str(store.root)}
    (trigger,) = reevaluate.triggers
    assert trigger.expect == {DIRECTION_REGISTERED}
    assert trigger.match.root["latentops.store"] == str(store.root)


def test_build_deployments_refuses_bad_settings_before_serving(tmp_path):
    store = _store_with_model(tmp_path / "store")
    root = str(store.root)
    with pytest.raises(InvalidInputError, match="not both"):
        build_deployments(EncodeSpec(model="vae"), store=root, interval=60, cron="0 * * * *")
    with pytest.raises(InvalidInputError, match="must be > 0"):
        build_deployments(EncodeSpec(model="vae"), store=root, interval=0)
    with pytest.raises(NotFoundError, match="unknown model 'nope'"):
        build_deployments(EncodeSpec(model="nope"), store=root, interval=60)
    with pytest.raises(ValueError, match="kind"):
        EncodeSpec(model="vae", runner={"kind": "spark"})
    with pytest.raises(NotFoundError, match="nope"):
        build_deployments(
            EncodeSpec(model="vae"), store=root, reevaluate=ReevaluateSpec(judge="nope")
        )
    with pytest.raises(ValueError, match="sample"):
        ReevaluateSpec(judge="judge", sample=1)


def test_dataset_for_defaults_to_the_training_data_and_its_options():
    card = {"arch": "vae", "dataset": "dsprites", "train": {"dataset_options": OPTS}}
    assert dataset_for(card, None, {}) == ("dsprites", OPTS)
    assert dataset_for(card, None, {"n_items": 900}) == ("dsprites", {**OPTS, "n_items": 900})
    assert dataset_for(card, "digits", {"upsample": 2}) == ("digits", {"upsample": 2})
    identity = {
        "arch": "identity",
        "dataset": "emb",
        "train": {"dataset_options": {"path": "e.npy"}},
    }
    assert dataset_for(identity, None, {}) == ("file", {"path": "e.npy"})


def test_serve_against_an_unreachable_server_exits_1_with_the_fix(tmp_path, capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from latentops.cli import main

    _store_with_model(tmp_path / "store")
    dead = f"http://127.0.0.1:{_free_port()}/api"
    with temporary_settings({PREFECT_API_URL: dead}), pytest.raises(SystemExit) as exc:
        main(["serve", "--model", "vae", "--store", str(tmp_path / "store")])
    err = " ".join(capsys.readouterr().err.split())
    assert exc.value.code == 1
    assert dead in err and "PREFECT_API_URL" in err and "Traceback" not in err


def test_compose_stack_matches_prefect_yaml_and_keeps_secrets_out():
    import yaml

    compose = yaml.safe_load((REPO / "infra" / "docker-compose.yaml").read_text())
    project = yaml.safe_load((REPO / "infra" / "prefect.yaml").read_text())
    services = compose["services"]
    pools = {d["work_pool"]["name"] for d in project["deployments"]}
    assert pools == {"latentops", "latentops-gpu"}
    assert "--pool latentops " in services["worker"]["command"] + " "
    assert "--pool latentops-gpu" in services["gpu-worker"]["command"]
    assert "infra/prefect.yaml" in " ".join(services["deploy"]["command"])
    (gpu,) = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert gpu["capabilities"] == ["gpu"] and gpu["count"] == 1
    db = services["server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert db.startswith("postgresql+asyncpg://") and "${POSTGRES_PASSWORD:?" in db
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    )
    assert services["server"]["ports"] == ["127.0.0.1:4200:4200"]
    # Entry points of prefect.yaml exist and name the flows latentops serve serves.
    from latentops.flows.deployments import encode_new_items
    from latentops.flows.maintain import maintain_flow
    from latentops.flows.reevaluate import reevaluate_flow
    from latentops.flows.refit import refit_flow

    flows = {
        "deployments.py:encode_new_items": encode_new_items,
        "refit.py:refit_flow": refit_flow,
        "reevaluate.py:reevaluate_flow": reevaluate_flow,
        "maintain.py:maintain_flow": maintain_flow,
    }
    for deployment in project["deployments"]:
        path, _, func = deployment["entrypoint"].partition(":")
        assert (REPO / path).is_file()
        assert flows[f"{Path(path).name}:{func}"].fn.__name__ == func
