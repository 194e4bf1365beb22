"""Shared fixtures: one Prefect test harness per session, small real stores and models."""

from __future__ import annotations

import os
import sys
import tempfile

import pytest

# Keep Prefect quiet and local: no telemetry, ephemeral API inside the harness.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# CLI subprocesses share latentops' local Prefect server: one of the session's own, never the
# user's (~/.latentops), stopped when the session ends (see stop_local_api).
os.environ.setdefault("LATENTOPS_STATE_DIR", tempfile.mkdtemp(prefix="latentops-state-"))


@pytest.fixture(scope="session", autouse=True)
def stop_local_api():
    """Stop the local Prefect server CLI subprocesses started, so CI leaks no process."""
    yield
    from latentops.flows.local_api import stop

    stop()


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory):
    """Environment for ``latentops`` subprocesses: no PREFECT_API_URL, so they share the
    session's local server; single-threaded torch; this checkout on the path."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env.update(
        PYTHONPATH=os.pathsep.join([repo, env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PREFECT_HOME=str(tmp_path_factory.mktemp("prefect-home")),
        OMP_NUM_THREADS="1",
    )
    return env


@pytest.fixture
def cli(cli_env):
    """``cli(*args)``: run ``python -m latentops ARGS`` in its own process (CompletedProcess)."""
    import subprocess

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600):
        return subprocess.run(
            [sys.executable, "-m", "latentops", *args],
            env=env or cli_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def prefect_harness():
    """A real (temporary, SQLite-backed) Prefect API for the whole test session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def read_artifacts(prefect_harness):
    """``read_artifacts(key)``: the Prefect artifacts with ``key`` on the session's test API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    def read(key: str) -> list:
        with get_client(sync_client=True) as client:
            return client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )

    return read


@pytest.fixture
def table_versions():
    """``table_versions(root)``: every Delta table under a local store (models included) ->
    its version, to show a refused command changed nothing."""
    from pathlib import Path

    from deltalake import DeltaTable

    def versions(root) -> dict[str, int]:
        root = Path(root)
        return {
            str(log.parent.relative_to(root)): DeltaTable(str(log.parent)).version()
            for log in sorted(root.rglob("_delta_log"))
        }

    return versions


@pytest.fixture
def store(tmp_path):
    """An empty store in a temporary directory."""
    from latentops.storage import Store

    return Store.open(tmp_path / "store")


SMALL = {"image_size": 32, "n_items": 1500}


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory, prefect_harness):
    """A store holding a small β-VAE (vae@1) trained by the real train flow on dSprites."""
    from latentops.flows.train import train_flow

    root = tmp_path_factory.mktemp("trained") / "store"
    ref = train_flow(
        dataset="dsprites",
        arch="vae",
        name="vae",
        store=str(root),
        dataset_options=SMALL,
        model_params={"latent_dim": 6, "beta": 2.0},
        epochs=2,
        batch_size=128,
        lr=2e-3,
        seed=0,
    )
    assert ref == "vae@1"
    return root


@pytest.fixture
def model_store(trained_store, tmp_path):
    """A private copy of the trained store, so tests can write without seeing each other."""
    import shutil

    from latentops.storage import Store

    dst = tmp_path / "store"
    shutil.copytree(trained_store, dst)
    return Store.open(dst)


# Big enough for a β-VAE that does not collapse and a judge that sees position, small enough
# to train in well under a minute on 2 idle CPU cores (deterministic on CPU).
POSX_DATA = {"image_size": 32, "n_items": 4000}


def _train_bvae(store) -> str:
    """β-VAE (β=2, d=6) trained by the pure loop on images rendered once (~1000 steps).

    The train flow renders every batch again each epoch, which at batch size 32 costs more
    than the model itself; registering the result makes it a model like any other.
    """
    import dataclasses

    import numpy as np
    import torch

    from latentops.data import get_dataset
    from latentops.models import TrainConfig, build_model, train_autoencoder

    data = get_dataset("dsprites", **POSX_DATA)
    x = torch.cat([b.x for b in data.batches(4096)])  # (N, 1, 32, 32)
    cfg = TrainConfig(epochs=8, batch_size=32, lr=1e-3, seed=0)

    def batches(epoch):
        order = torch.from_numpy(np.random.default_rng(epoch).permutation(len(x)))
        return (x[order[s : s + cfg.batch_size]] for s in range(0, len(x), cfg.batch_size))

    model = build_model("vae", latent_dim=6, beta=2.0, image_size=32)
    result = train_autoencoder(model, batches, cfg, device="cpu")
    ref = store.models.register(
        "bvae",
        model,
        dataset=data.name,
        dataset_fingerprint=data.fingerprint,
        train={"config": dataclasses.asdict(cfg), "dataset_options": POSX_DATA, "n_items": len(x)},
        metrics={"final": result.final},
    )
    return str(ref)


@pytest.fixture(scope="session")
def posx_store(prefect_harness, tmp_path_factory):
    """A store holding bvae@1, a β-VAE whose latents carry position, and judge@1, a judge
    that sees it, both trained on the same 32 px dSprites subset (POSX_DATA)."""
    import torch

    from latentops.flows.evaluate import train_judge_flow
    from latentops.storage import Store

    root = tmp_path_factory.mktemp("posx") / "store"
    # one thread: on a busy 2-core machine two spinning OpenMP threads made an epoch 20x slower
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert _train_bvae(Store.open(root)) == "bvae@1"
        judge = train_judge_flow(
            "dsprites", name="judge", store=str(root), dataset_options=POSX_DATA, epochs=6
        )
    finally:
        torch.set_num_threads(n)
    assert judge == "judge@1"
    return root


@pytest.fixture
def diverged_model(model_store):
    """``broken@1`` in the private store: vae@1 with every weight NaN (a diverged training run)."""
    import torch

    model, _ = model_store.models.load("vae@1")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    model_store.models.register(
        "broken",
        model,
        dataset="dsprites",
        dataset_fingerprint="x",
        train={"dataset_options": SMALL},
        metrics={},
    )
    return "broken@1"


# -- S3-compatible object storage: a real moto server in its own process ----------------------

S3_SECRET = "latentops-test-secret-9f3c1a7e5b"  # the bucket must never hold this string

_MOTO = (
    "import logging, sys\n"
    "from moto.server import ThreadedMotoServer\n"
    "logging.getLogger('werkzeug').setLevel(logging.ERROR)  # no line per request\n"
    "server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n"
    "server.start()\n"
    "print(server.get_host_and_port()[1], flush=True)\n"
    "sys.stdin.read()  # serve until the test session closes our stdin\n"
)


@pytest.fixture(scope="session")
def s3_server():
    """Endpoint URL of a moto S3 server, run in a child process for the whole session.

    A child process, not a thread: deltalake calls that hold the GIL would otherwise block the
    in-process server they are waiting for.
    """
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", _MOTO], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    port = proc.stdout.readline().strip()
    if not port.isdigit():
        proc.kill()
        pytest.fail(f"moto server did not start (printed {port!r}); pip install 'moto[server]'")
    yield f"http://127.0.0.1:{port}"
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def s3_bucket(s3_server, monkeypatch, request):
    """A fresh bucket on the moto server, with the AWS_* environment pointing at it.

    Returns the bucket name; ``s3://<name>/store`` is a good store URI.
    """
    import re
    import uuid

    import boto3

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "latentops-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    bucket = f"{slug}-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket
