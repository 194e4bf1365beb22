"""`latentops encode --dataset PATH`: image folders and Parquet image bytes, run as a user does."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from latentops.storage import Store
from latentops.storage.latents import z_matrix
from tests.cli.test_bad_input import _versions
from tests.data._images import write_folder, write_parquet
from tests.models._byom import weights, write_user_model


def _setup(cli, cli_env, tmp_path):
    """A user model (8x8 -> 4) registered on an image folder of 24 digits; a runner of lines."""
    user = tmp_path / "user"
    user.mkdir()
    factory, cfg, w = write_user_model(user, latent_dim=4, size=8)
    env = {**cli_env, "PYTHONPATH": os.pathsep.join([str(user), cli_env["PYTHONPATH"]])}
    store = str(tmp_path / "store")
    px, y = write_folder(tmp_path / "digits_png", 24)

    def run(*args, code=0):
        done = cli(*args, "--store", store, env=env)
        assert done.returncode == code, done.stdout + done.stderr
        return done

    run("models", "register", "--name", "mine", "--factory", factory, "--config", str(cfg),
        "--weights", str(w), "--dataset", str(tmp_path / "digits_png"))  # fmt: skip
    return run, store, px, y


def _linear(px):
    state = weights(latent_dim=4, size=8)
    x = torch.from_numpy(px.reshape(len(px), -1).astype(np.float32) / 255)
    return (x @ state["enc.weight"].T + state["enc.bias"]).numpy()


def test_encode_folder_new_files_parquet_bytes_and_bad_images(cli, cli_env, tmp_path):
    run, store, px, y = _setup(cli, cli_env, tmp_path)
    wide = {**cli_env, "COLUMNS": "300"}
    help_text = " ".join(cli("encode", "--help", env=wide).stdout.split())
    assert "--dataset photos/ --labels photos.csv" in help_text and "--image-column" in help_text

    out = run("encode", "--model", "mine").stdout  # the folder it was registered with
    assert "digits_png_mine_v1: 24 new rows" in " ".join(out.split())
    snap = Store.open(store).latent_table("digits_png_mine_v1").read()
    rows = [int(p.split("/")[1][:4]) for p in snap["path"].to_pylist()]
    np.testing.assert_allclose(z_matrix(snap, "z"), _linear(px[rows]), atol=1e-5)
    assert snap["class"].to_pylist() == y[rows].tolist()

    Image.fromarray(px[0]).save(tmp_path / "digits_png" / "7" / "extra.png")
    out = " ".join(
        run("encode", "--model", "mine", "--dataset", str(tmp_path / "digits_png")).stdout.split()
    )
    assert "1 new rows (24 already encoded), version 2" in out
    after = Store.open(store).latent_table("digits_png_mine_v1").read()
    ids = dict(zip(after["path"].to_pylist(), after["item_id"].to_pylist(), strict=True))
    assert ids.pop("7/extra.png") not in ids.values()
    assert sorted(ids.values()) == snap["item_id"].to_pylist()  # the old files kept their ids

    write_parquet(tmp_path / "bytes.parquet", 20)
    run("encode", "--model", "mine", "--dataset", str(tmp_path / "bytes.parquet"),
        "--image-column", "png", "--id-column", "item_id", "--table", "from_bytes")  # fmt: skip
    got = Store.open(store).latent_table("from_bytes").read()
    assert got["item_id"].to_pylist() == list(range(1000, 1020))
    np.testing.assert_allclose(z_matrix(got, "z"), _linear(px[:20]), atol=1e-5)
    assert got["digit"].to_pylist() == y[:20].tolist()

    # Bad input (one store and model for both parts: each process costs seconds): exit 1,
    # one line naming the file or model, no table version written.
    folder = tmp_path / "digits_png"
    Image.fromarray(255 - px[3]).save(folder / "3" / "0003.png")  # replaced after encoding
    bad = {name: tmp_path / name for name in ("empty", "mixed", "corrupt", "big")}
    for path in bad.values():
        path.mkdir()
    for name in ("mixed", "corrupt"):
        write_folder(bad[name], 4)
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(bad["mixed"] / "odd.png")
    (bad["corrupt"] / "2" / "0002.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(bad["big"] / "a.png")
    before = _versions(tmp_path / "store")
    cases = {
        str(folder): "1 item(s) of digits_png changed since table 'digits_png_mine_v1' encoded "
        "them, e.g. 3/0003.png",
        str(bad["empty"]): "holds no .png/.jpg/.jpeg files",
        str(bad["mixed"]): "images differ in size",
        str(bad["corrupt"]): "0002.png is not a PNG or JPEG image",
        str(bad["big"]): "takes image items of shape (1, 8, 8) but dataset",
    }
    for dataset, message in cases.items():
        done = run("encode", "--model", "mine", "--dataset", dataset, code=1)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], done.stderr
        assert "Traceback" not in done.stderr
    assert _versions(tmp_path / "store") == before
