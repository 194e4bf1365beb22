"""Concurrent CLI commands on one machine: separate processes sharing the local Prefect API."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "latentops", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    outputs = [p.communicate(timeout=900) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


@pytest.fixture(scope="module")
def encoded_store(trained_store, tmp_path_factory, cli_env):
    """A copy of the trained store with vae@1's latents in table ``t``, encoded by the CLI."""
    root = tmp_path_factory.mktemp("concurrent") / "store"
    shutil.copytree(trained_store, root)
    out = subprocess.run(
        [sys.executable, "-m", "latentops", "encode", "-m", "vae@1", "-t", "t", "-s", str(root)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr
    return root


def test_eight_concurrent_fits_of_one_name_get_versions_1_to_8(encoded_store, cli_env):
    from latentops.storage import Store

    args = (
        "directions",
        "fit",
        "-t",
        "t",
        "-l",
        "shape==2",
        "-n",
        "heart",
        "-s",
        str(encoded_store),
    )
    results = _finish([_start(cli_env, *args) for _ in range(8)])
    assert [r[0] for r in results] == [0] * 8, [r[2][-500:] for r in results if r[0]]
    rows = Store.open(encoded_store).directions.list().to_pylist()
    assert sorted(r["version"] for r in rows if r["name"] == "heart") == list(range(1, 9))


def test_a_failure_inside_a_flow_prints_one_line(encoded_store, cli):
    # shape==7 passes the up-front checks (the column exists) but has no positive rows,
    # which only the fit inside the flow finds.
    out = cli(
        "directions", "fit", "-t", "t", "-l", "shape==7", "-n", "none", "-s", str(encoded_store)
    )
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith("error:") and "Traceback" not in out.stderr


def test_four_concurrent_encodes_of_overlapping_ids_write_each_item_once(
    trained_store, tmp_path, cli_env
):
    from latentops.data import get_dataset
    from latentops.storage import Store

    root = tmp_path / "store"
    shutil.copytree(trained_store, root)
    sizes = (300, 500, 700, 900)
    procs = [
        _start(cli_env, "encode", "-m", "vae@1", "-t", "e", "--n-items", str(n), "-s", str(root))
        for n in sizes
    ]
    results = _finish(procs)
    assert [r[0] for r in results] == [0] * 4, [r[2][-500:] for r in results if r[0]]
    ids = Store.open(root).latent_table("e").read(["item_id"])["item_id"].to_pylist()
    expected = set()
    for n in sizes:
        expected |= set(get_dataset("dsprites", image_size=32, n_items=n).item_ids().tolist())
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
