"""Edit flows on real encoded latents: direction edits, interpolations, traversals, VQ swaps."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from latentops.cli import main
from latentops.cli._edit import parse_grid
from latentops.errors import InvalidInputError, UnsupportedOperationError
from latentops.flows.directions import fit_directions_flow
from latentops.flows.edit import edit_flow, interpolate_flow, traverse_flow, vq_edit_flow
from latentops.flows.encode import encode_flow
from latentops.latent import quantize
from latentops.models import build_model
from latentops.storage import Store
from latentops.storage.edits import EditsTable, png_array
from latentops.storage.latents import z_matrix

SMALL = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine two spinning OpenMP threads are far slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def edit_base(trained_store, tmp_path_factory):
    """t: vae@1 latents + posx@1; t2: latents of a perturbed vae@2 + other@1; tq: a VQ model."""
    root = tmp_path_factory.mktemp("edit") / "store"
    shutil.copytree(trained_store, root)
    store = Store.open(root)
    encode_flow(
        dataset="dsprites", model="vae@1", table="t", store=str(root), dataset_options=SMALL
    )
    fit_directions_flow(
        "t", [{"name": "posx", "method": "ridge", "label": "pos_x"}], store=str(root)
    )
    model, _ = store.models.load("vae@1")
    with torch.no_grad():
        model.decoder.fc1.bias.add_(0.01)  # another version: same shapes, other weights
    meta = {"dataset": "dsprites", "dataset_fingerprint": "x", "train": {"dataset_options": SMALL}}
    store.models.register("vae", model, metrics={}, **meta)
    small = {**SMALL, "n_items": 200}
    encode_flow(
        dataset="dsprites", model="vae@2", table="t2", store=str(root), dataset_options=small
    )
    fit_directions_flow(
        "t2", [{"name": "other", "method": "ridge", "label": "pos_x"}], store=str(root)
    )
    vq = build_model("vqvae", image_size=32, num_embeddings=16, embedding_dim=4)
    store.models.register("vq", vq, metrics={}, **meta)
    encode_flow(
        dataset="dsprites", model="vq@1", table="tq", store=str(root), dataset_options=small
    )
    return root


@pytest.fixture
def edit_store(edit_base, tmp_path):
    dst = tmp_path / "store"
    shutil.copytree(edit_base, dst)
    return Store.open(dst)


def _edits(store):
    return EditsTable(store.table_uri("edits")).read()


def _z(store, table, ids):
    snap = store.latent_table(table).read()
    pos = np.searchsorted(snap["item_id"].to_numpy(), ids)
    return z_matrix(snap)[pos], snap.take(pos)


def test_direction_edits_are_z_plus_strength_v_and_decode_to_their_thumbnails(edit_store):
    root = str(edit_store.root)
    out = edit_flow(
        "t", ["posx"], strengths=[-2.0, 0.0, 2.5], where="shape = 2", sample=10, seed=3, store=root
    )
    assert out["directions"] == ["posx@1"] and out["written"] == 30 and out["n_items"] == 10
    rows = _edits(edit_store)
    ids = rows["item_id"].to_numpy()
    z, latents = _z(edit_store, "t", ids)
    assert set(latents["shape"].to_pylist()) == {2} and len(set(ids)) == 10
    v, _, _ = edit_store.directions.get("posx@1")
    # strengths are in std of the data along the direction: z + strength * std * v
    s = rows["strength"].to_numpy()
    assert v.strength_unit == "std" and 0 < v.std != 1.0
    assert sorted(set(s.tolist())) == [-2.0, 0.0, 2.5]  # rows keep the strengths as given
    np.testing.assert_allclose(
        z_matrix(rows, "z_edit"), z + (s * v.std)[:, None] * v.vector, atol=1e-5
    )
    params = [json.loads(p) for p in rows["params_json"].to_pylist()]
    assert {p["strength_unit"] for p in params} == {"std"} and out["strength_units"] == {
        "posx@1": "std"
    }
    model, card = edit_store.models.load("vae@1")
    with torch.inference_mode():
        expect = model.decode(torch.tensor(z_matrix(rows, "z_edit"))).numpy()
    pngs = np.stack([png_array(b) for b in rows["png"].to_pylist()])  # (M, 1, 32, 32)
    assert np.abs(pngs - expect).max() <= 1.5 / 255  # batch-size rounding at most 1 step
    lineage = rows.slice(0, 1).to_pylist()[0]
    assert lineage["model"] == "vae@1" and lineage["model_sha256"] == card["sha256"]
    assert (
        lineage["latent_table"] == "t" and lineage["latent_table_version"] == out["table_version"]
    )
    assert lineage["run_id"] and lineage["kind"] == "direction"
    again = edit_flow(
        "t",
        ["posx@1"],
        strengths=[-2.0, 0.0, 2.5],
        where="shape = 2",
        sample=10,
        seed=3,
        store=root,
    )
    assert again["written"] == 0 and _edits(edit_store).num_rows == 30  # exactly once


def test_a_direction_without_std_edits_in_raw_latent_units(edit_store):
    from latentops.directions import Direction
    from latentops.storage.catalog import DirectionLineage

    snap = edit_store.latent_table("t")
    v = np.zeros(snap.d, np.float32)
    v[0] = 1.0
    card = snap.card
    lineage = DirectionLineage(
        latent_table="t", model=card["model"], model_sha256=card.get("model_sha256")
    )
    edit_store.directions.register("axis0", Direction(v, "manual"), lineage)
    out = edit_flow("t", ["axis0"], strengths=[-1.0, 2.0], sample=4, store=str(edit_store.root))
    assert out["strength_units"] == {"axis0@1": "raw"}
    rows = _edits(edit_store)
    z, _ = _z(edit_store, "t", rows["item_id"].to_numpy())
    s = rows["strength"].to_numpy()
    np.testing.assert_allclose(z_matrix(rows, "z_edit"), z + s[:, None] * v, atol=1e-6)
    params = {json.loads(p)["strength_unit"] for p in rows["params_json"].to_pylist()}
    assert params == {"raw"}


def test_item_selection_and_grids_are_validated_before_writing(edit_store):
    root = str(edit_store.root)
    with pytest.raises(InvalidInputError, match="matches none"):
        edit_flow("t", ["posx"], where="shape = 7", store=root)
    with pytest.raises(InvalidInputError, match="does not parse|not allowed|one condition"):
        edit_flow("t", ["posx"], where="1=1; DROP TABLE x", store=root)
    with pytest.raises(InvalidInputError, match="distinct finite"):
        edit_flow("t", ["posx"], strengths=[1.0, float("nan")], store=root)
    with pytest.raises(InvalidInputError, match="sample"):
        edit_flow("t", ["posx"], sample=0, store=root)
    assert not EditsTable(edit_store.table_uri("edits")).exists()
    assert parse_grid("-3:3:7", "--strengths") == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    assert parse_grid("-1.5,0,2", "--strengths") == [-1.5, 0.0, 2.0]
    with pytest.raises(InvalidInputError, match="START:STOP:COUNT"):
        parse_grid("-3..3", "--strengths")


def test_direction_from_another_model_version_is_refused_naming_both(edit_store):
    with pytest.raises(InvalidInputError, match=r"vae@2.*vae@1"):
        edit_flow("t", ["other@1"], sample=5, store=str(edit_store.root))
    with pytest.raises(InvalidInputError, match="repeat"):
        edit_flow("t", ["posx", "posx@1"], sample=5, store=str(edit_store.root))
    assert not EditsTable(edit_store.table_uri("edits")).exists()


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolation_paths_start_and_end_at_their_items(edit_store, method):
    out = interpolate_flow(
        "t", n_pairs=3, steps=5, method=method, seed=1, store=str(edit_store.root)
    )
    assert out["written"] == 15 and len(out["pairs"]) == 3
    rows = _edits(edit_store).to_pylist()
    for a, b in out["pairs"]:
        path = sorted(
            (r for r in rows if r["item_id"] == a and r["partner_id"] == b), key=lambda r: r["step"]
        )
        assert [r["strength"] for r in path] == [0.0, 0.25, 0.5, 0.75, 1.0]
        (za, zb), _ = _z(edit_store, "t", np.array([a, b]))
        np.testing.assert_allclose(path[0]["z_edit"], za, atol=1e-6)
        np.testing.assert_allclose(path[-1]["z_edit"], zb, atol=1e-6)
        mid = np.asarray(path[2]["z_edit"])
        if method == "lerp":
            np.testing.assert_allclose(mid, (za + zb) / 2, atol=1e-6)
        else:  # slerp interpolates the norm linearly as well as the angle
            assert np.linalg.norm(mid) == pytest.approx(
                (np.linalg.norm(za) + np.linalg.norm(zb)) / 2, rel=1e-4
            )


def test_traversal_grid_sets_one_dim_at_a_time(edit_store):
    out = traverse_flow("t", values=[-1.0, 1.0], sample=2, store=str(edit_store.root), images=False)
    d = edit_store.latent_table("t").d
    assert out["written"] == 2 * d * 2 and out["dims"] == list(range(d))
    rows = _edits(edit_store)
    z, _ = _z(edit_store, "t", rows["item_id"].to_numpy())
    expect = z.copy()
    dims, values = rows["dim"].to_numpy(), rows["strength"].to_numpy()
    expect[np.arange(len(z)), dims] = values
    np.testing.assert_allclose(z_matrix(rows, "z_edit"), expect)
    assert rows["png"].null_count == rows.num_rows  # --no-images
    with pytest.raises(InvalidInputError, match="dims"):
        traverse_flow("t", dims=[d], store=str(edit_store.root))


def test_vq_swap_replaces_one_code_in_the_token_maps(edit_store):
    root = str(edit_store.root)
    model, _ = edit_store.models.load("vq@1")
    snap = edit_store.latent_table("tq").read()
    zmap = torch.tensor(z_matrix(snap)).view(-1, *model.token_shape)
    codes, _ = quantize(zmap, model.codebook)  # (N, h, w)
    old = int(torch.bincount(codes.flatten()).argmax())
    new = (old + 1) % model.config.num_embeddings
    out = vq_edit_flow("tq", [(old, new)], sample=6, seed=0, store=root)
    assert out["written"] == 6
    rows = _edits(edit_store)
    edited = torch.tensor(z_matrix(rows, "z_edit")).view(-1, *model.token_shape)
    got, _ = quantize(edited, model.codebook)
    pos = np.searchsorted(snap["item_id"].to_numpy(), rows["item_id"].to_numpy())
    before = codes[torch.from_numpy(pos)]
    torch.testing.assert_close(got, torch.where(before == old, new, before))
    params = [json.loads(p) for p in rows["params_json"].to_pylist()]
    assert [p["n_replaced"] for p in params] == (before == old).flatten(1).sum(1).tolist()
    with torch.inference_mode():
        expect = model.decode_indices(got).numpy()
    pngs = np.stack([png_array(b) for b in rows["png"].to_pylist()])
    assert np.abs(pngs - expect).max() <= 1.5 / 255
    with pytest.raises(UnsupportedOperationError, match="codebook"):
        vq_edit_flow("t", [(0, 1)], sample=2, store=root)
    with pytest.raises(InvalidInputError, match="OLD != NEW"):
        vq_edit_flow("tq", [(3, 3)], store=root)


def _cli(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_cli_edit_and_bad_usage(edit_store, capsys):
    root = str(edit_store.root)
    code, out, _ = _cli(
        capsys,
        "edit",
        "-t",
        "t",
        "-d",
        "posx",
        "--sample",
        "3",
        "--strengths",
        "-1:1:3",
        "--store",
        root,
    )
    assert code == 0 and "9 new direction edits" in out and _edits(edit_store).num_rows == 9
    code, _, err = _cli(capsys, "edit", "-t", "t", "--store", root)
    assert code == 2 and "--direction" in err  # a usage error
    code, _, err = _cli(capsys, "interpolate", "-t", "t", "--pair", "1-2", "--store", root)
    assert code == 1 and "A,B" in err
