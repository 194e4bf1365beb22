"""Bring your own model: the protocol, .pt2 programs, fingerprints and every refused input."""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from latentops.cli import main
from latentops.data import get_dataset
from latentops.errors import CorruptArtifactError, InvalidInputError, UnsupportedOperationError
from latentops.evaluation.edit_scorecard import Part, finish_scorecard
from latentops.models import (
    LatentModel,
    ModelSpec,
    build_model,
    check_model,
    encode_batches,
    probe_batch,
    require,
)
from latentops.models.external import adapt
from latentops.storage import Store
from latentops.storage import external_models as em
from latentops.storage.latents import z_matrix
from tests.models._byom import weights, write_user_model


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A directory of user code on sys.path (as PYTHONPATH would put it)."""
    root = tmp_path / "user"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def _register(capsys, store_root, *args):
    with pytest.raises(SystemExit) as exc:
        main(["models", "register", "--store", str(store_root), *args])
    return exc.value.code, capsys.readouterr()


def test_built_in_models_implement_the_protocol():
    vae = build_model("vae", latent_dim=3, image_size=32)
    ae, ident = build_model("ae", latent_dim=3, image_size=32), build_model("identity", dim=5)
    assert all(isinstance(m, LatentModel) for m in (vae, ae, ident))
    assert vae.spec == ModelSpec(3, "image", (1, 32, 32), "standard_normal")
    assert ae.spec.prior == "none" and ident.spec == ModelSpec(5, "vector", (5,))
    caps = vae.capabilities
    assert caps.decodes and caps.posterior and caps.first_decoder_layer and not caps.codebook
    assert not ident.capabilities.decodes and not ident.capabilities.first_decoder_layer
    assert build_model("vqvae", image_size=32).capabilities.codebook
    assert check_model(vae, probe_batch(vae)).ok


def _export(net, x, z):
    batch = torch.export.Dim("batch")

    class Enc(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.encode(x)

    class Dec(Enc):
        def forward(self, z):
            return self.net.decode(z)

    enc = torch.export.export(Enc(), (x,), dynamic_shapes={"x": {0: batch}})
    dec = torch.export.export(Dec(), (z,), dynamic_shapes={"z": {0: batch}})
    return enc, dec


def test_pt2_round_trip_equals_the_eager_model_and_encodes_through_the_flow(
    user_dir, tmp_path, capsys, prefect_harness
):
    factory, cfg, w = write_user_model(user_dir, latent_dim=4)
    eager = em.from_factory(factory, {"latent_dim": 4}, em.read_weights(w)).model.net.eval()
    data = get_dataset("digits")
    x = next(data.batches(32)).x
    enc, dec = _export(eager, x, eager.encode(x))
    torch.export.save(enc, tmp_path / "enc.pt2")
    torch.export.save(dec, tmp_path / "dec.pt2")
    root = tmp_path / "store"
    code, out = _register(
        capsys, root, "--name", "exp", "--exported-encoder", str(tmp_path / "enc.pt2"),
        "--exported-decoder", str(tmp_path / "dec.pt2"), "--dataset", "digits",
    )  # fmt: skip
    assert code in (0, None), out.err
    store = Store.open(root)
    model, card = store.models.load("exp")
    assert card["config"]["source"] == "exported" and card["checkpoint"].endswith(".pt2")
    assert store.models.capabilities(card).decodes and store.models.spec(card) == model.spec
    assert model.spec == ModelSpec(4, "image", (1, 8, 8))
    assert not model.capabilities.first_decoder_layer
    with torch.inference_mode():
        torch.testing.assert_close(model.encode(x), eager.encode(x), rtol=0, atol=0)
        torch.testing.assert_close(model.decode(model.encode(x)), eager.decode(eager.encode(x)))

    from latentops.flows.directions import fit_directions_flow
    from latentops.flows.encode import encode_flow

    out = encode_flow(dataset="digits", model="exp", store=str(root), batch_size=500)
    assert out["written"] == data.n_items
    snap = store.latent_table(out["table"]).read()
    order = np.argsort(snap["item_id"].to_numpy())
    with torch.inference_mode():
        want = torch.cat([eager.encode(b.x) for b in data.batches(500)]).numpy()
    np.testing.assert_allclose(z_matrix(snap, "z")[order], want, atol=1e-5)
    # the exported model has no first decoder layer: SeFa is refused, naming model and capability
    spec = {"name": "sf", "method": "sefa", "label": None, "params": {}}
    with pytest.raises(UnsupportedOperationError, match=r"exp@1 .*first decoder layer.*SeFa"):
        fit_directions_flow(out["table"], [spec], store=str(root))


def test_changed_factory_module_is_refused_at_load(user_dir, store):
    factory, cfg, w = write_user_model(user_dir)
    build = em.from_factory(factory, {}, em.read_weights(w))
    report = check_model(build.model, probe_batch(build.model))
    store.models.register_external(
        "mine", build, report, dataset="digits", dataset_fingerprint="f", dataset_options={}
    )
    loaded, card = store.models.load("mine")
    assert card["fingerprint"]["code"] == f"factory:{build.config['code_sha256']}"
    assert card["fingerprint"]["weights_sha256"] == card["sha256"]
    module = user_dir / f"{factory.partition(':')[0]}.py"
    module.write_text(module.read_text() + "\n# edited after registration\n")
    with pytest.raises(CorruptArtifactError, match=r"mine@1: factory module .* changed since"):
        store.models.load("mine")


BAD = {
    "not importable": (
        lambda f: ["--factory", "no_such_user_module:build"],
        r"factory module 'no_such_user_module' cannot be imported",
    ),
    "not a module": (
        lambda f: ["--factory", f, "--config", "{mode}"],
        r"returned dict, not a torch nn.Module",
    ),
    "rejected config keys": (
        lambda f: ["--factory", f, "--config", "{bogus}"],
        r"rejected config keys \['bogus'\]",
    ),
    "missing weights": (lambda f: ["--factory", f, "--weights", "{partial}"], r"missing \['dec"),
    "unexpected weights": (lambda f: ["--factory", f, "--weights", "{extra}"], r"unexpected \["),
    "weight shapes": (lambda f: ["--factory", f, "--weights", "{wide}"], r"wrong shape \['dec"),
    "output shape": (
        lambda f: ["--factory", f, "--config", "{c_wide}"],
        r"fails the 'output shape' check: encode raised .* not \(64, 4\)",
    ),
    "dtype": (lambda f: ["--factory", f, "--config", "{c_half}"], r"fails the 'dtype' check"),
    "nan": (lambda f: ["--factory", f, "--config", "{c_nan}"], r"fails the 'finite' check"),
    "non-deterministic": (
        lambda f: ["--factory", f, "--config", "{c_noisy}"],
        r"fails the 'determinism' check",
    ),
    "dataset shape": (
        lambda f: ["--factory", f, "--config", "{c_16}"],
        r"takes image items of shape \(1, 16, 16\) but dataset 'digits' gives .*\(1, 8, 8\)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_models_are_refused_and_nothing_is_written(
    case, user_dir, tmp_path, capsys, table_versions
):
    factory, cfg, w = write_user_model(user_dir)
    root = tmp_path / "store"
    code, out = _register(capsys, root, "--name", "good", "--factory", factory, "--weights", str(w))
    assert code in (0, None), out.err
    files = {}
    for key, config in {
        "mode": {"mode": "not_module"},
        "bogus": {"bogus": 1},
        "c_wide": {"mode": "wide"},
        "c_half": {"mode": "half"},
        "c_nan": {"mode": "nan"},
        "c_noisy": {"mode": "noisy"},
        "c_16": {"size": 16},
    }.items():
        files[key] = tmp_path / f"{key}.json"
        files[key].write_text(json.dumps(config))
    state = weights()
    for key, bad in {
        "partial": {k: v for k, v in state.items() if k.startswith("enc")},
        "extra": {**state, "head.weight": torch.zeros(2)},
        "wide": weights(latent_dim=5),
    }.items():
        files[key] = tmp_path / f"{key}.safetensors"
        save_file(bad, str(files[key]))
    before = table_versions(root)
    args, message = BAD[case]
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in args(factory)]
    code, out = _register(capsys, root, "--name", "bad", *argv, "--dataset", "digits")
    assert code == 1
    assert len(out.err.strip().splitlines()) == 1, out.err
    assert re.search(message, " ".join(out.err.split())), out.err
    assert table_versions(root) == before
    assert Store.open(root).models.list()["name"].to_pylist() == ["good"]


def test_pt2_with_another_input_shape_than_the_dataset_is_refused(
    user_dir, tmp_path, capsys, table_versions
):
    factory, _, w = write_user_model(user_dir, size=16)
    net = em.from_factory(factory, {"size": 16}, em.read_weights(w)).model.net.eval()
    x = torch.rand(4, 1, 16, 16)
    enc, _ = _export(net, x, net.encode(x))
    torch.export.save(enc, tmp_path / "enc16.pt2")
    root = tmp_path / "store"
    Store.open(root)
    before = table_versions(root)
    code, out = _register(
        capsys, root, "--name", "e16", "--exported-encoder", str(tmp_path / "enc16.pt2"),
        "--dataset", "digits",
    )  # fmt: skip
    assert code == 1
    assert "shape (1, 16, 16) but dataset 'digits' gives items of shape (1, 8, 8)" in " ".join(
        out.err.split()
    )
    assert table_versions(root) == before and not Store.open(root).models.list().num_rows


def test_encode_refuses_a_dataset_the_spec_does_not_take_before_any_write(
    user_dir, tmp_path, capsys, table_versions
):
    factory, _, w = write_user_model(user_dir, size=16)
    root = tmp_path / "store"
    code, out = _register(capsys, root, "--name", "big", "--factory", factory, "--config",
                          _json(tmp_path, {"size": 16}), "--weights", str(w))  # fmt: skip
    assert code in (0, None), out.err
    before = table_versions(root)
    with pytest.raises(SystemExit) as exc:
        main(["encode", "--model", "big", "--dataset", "digits", "--store", str(root)])
    err = " ".join(capsys.readouterr().err.split())
    assert exc.value.code == 1
    assert "model big@1 takes image items of shape (1, 16, 16) but dataset 'digits'" in err
    assert table_versions(root) == before and not (root / "latents").exists()


def test_register_takes_exactly_one_source(user_dir, tmp_path, capsys):
    factory, _, _ = write_user_model(user_dir)
    for argv in ([], ["--factory", factory, "--entry-point", "x"]):
        code, out = _register(capsys, tmp_path / "s", "--name", "m", *argv)
        assert code == 2 and "exactly one of --factory" in out.err


def _json(tmp_path, config):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def _part(S=3, n=40, f=2, seed=0):
    """A synthetic scorecard Part: a response linear in strength, random judge features."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-1, 1, S)
    feats = rng.standard_normal((S + 1, n, f))
    sums = {"pix": np.ones(S), "recon": 0.0, "cycle_n": 0}
    sums.update({k: np.zeros(S) for k in ("loc", "loc_n", "on", "off")})
    part = Part(
        offset=0,
        n=n,
        resp=grid[:, None] + 0.01 * rng.standard_normal((S, n)),
        resp_base=np.zeros(n),
        pred={"digit": np.zeros((S, n))},
        pred_base={"digit": np.zeros(n)},
        logp=-rng.random((S, n)),
        moments=[feats.sum(1), np.einsum("sbf,sbg->sfg", feats, feats)],
        sums=sums,
        ppl=None,
    )
    return grid, part


def test_prior_plausibility_is_skipped_with_a_reason_without_a_standard_normal_prior():
    grid, part = _part()
    with_prior, _ = finish_scorecard(part, grid, "digit", 1e-2, -np.ones(50), None)
    without, skipped = finish_scorecard(part, grid, "digit", 1e-2, None, None)
    prior = {k for k in with_prior if k[0].startswith("prior.")}
    assert len(prior) == 3 * len(grid) and not any(k[0].startswith("prior.") for k in without)
    assert set(with_prior) - prior == set(without)
    assert "prior.*: the model declares no standard-normal prior" in skipped


def test_models_check_and_show_a_built_in_model(store, capsys):
    vae = build_model("vae", latent_dim=3, image_size=32, seed=0)
    store.models.register(
        "v",
        vae,
        dataset="dsprites",
        dataset_fingerprint="f",
        train={"dataset_options": {"image_size": 32}},
        metrics={},
    )
    main_ok = ["models", "check", "v", "--store", str(store.root)]
    with pytest.raises(SystemExit) as exc:
        main(main_ok)
    out = " ".join(capsys.readouterr().out.split())
    assert exc.value.code in (0, None)
    assert "determinism" in out and "round trip" in out and "False" not in out
    with pytest.raises(SystemExit):
        main(["models", "show", "v@1", "--store", str(store.root)])
    out = capsys.readouterr().out
    assert '"prior": "standard_normal"' in out and '"fingerprint"' in out
    assert '"first_decoder_layer": true' in out and '"codebook": false' in out


class _Gaussian(torch.nn.Module):
    """A user's Gaussian encoder: encode_posterior gives (mu, logvar), prior N(0, I)."""

    spec = {"d": 2, "input_kind": "vector", "input_shape": [3], "prior": "standard_normal"}

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 4)

    def encode(self, x):
        return self.encode_posterior(x)[0]

    def encode_posterior(self, x):
        return self.lin(x).chunk(2, dim=1)


def test_the_python_api_refuses_a_failed_report_and_writes_nothing(user_dir, store):
    factory, _, _ = write_user_model(user_dir)
    build = em.from_factory(factory, {"mode": "noisy"}, None)
    report = check_model(build.model, probe_batch(build.model))
    with pytest.raises(
        InvalidInputError, match=r"fails the 'determinism' check.*nothing registered"
    ):
        store.models.register_external(
            "n", build, report, dataset=None, dataset_fingerprint=None, dataset_options={}
        )
    assert not store.models.list().num_rows


def test_an_external_posterior_is_a_capability_and_reaches_the_codec():
    model = adapt(_Gaussian(), "gaussian")
    caps = model.capabilities
    assert caps.posterior and not caps.decodes and model.spec.prior == "standard_normal"
    x = torch.randn(5, 3)
    batch = type("Batch", (), {"item_id": np.arange(5), "x": x})
    (ids, z, logvar), *_ = encode_batches(model, [batch], "cpu")
    mu, lv = model.net.lin(x).chunk(2, dim=1)
    np.testing.assert_allclose(z, mu.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(logvar, lv.detach().numpy(), atol=1e-6)
    with pytest.raises(UnsupportedOperationError, match=r"model g@1 has no decoder .*decoding"):
        require(model, "decodes", "g@1", "decoding", "use --no-images")
    assert check_model(model, probe_batch(model)).ok


def test_a_pt2_that_would_be_unpickled_is_refused(user_dir, tmp_path, capsys, table_versions):
    factory, _, w = write_user_model(user_dir)
    net = em.from_factory(factory, {}, em.read_weights(w)).model.net.eval()
    x = torch.rand(4, 1, 8, 8)
    enc, _ = _export(net, x, net.encode(x))
    torch.export.save(enc, tmp_path / "enc.pt2")
    # flag one weight as pickled, as torch.export.save does for tensor subclasses
    bad = tmp_path / "pickled.pt2"
    with (
        zipfile.ZipFile(tmp_path / "enc.pt2") as src,
        zipfile.ZipFile(bad, "w") as dst,
    ):
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("_weights_config.json"):
                config = json.loads(data)
                next(iter(config["config"].values()))["use_pickle"] = True
                data = json.dumps(config).encode()
            dst.writestr(name, data)
    root = tmp_path / "store"
    Store.open(root)
    before = table_versions(root)
    code, out = _register(capsys, root, "--name", "p", "--exported-encoder", str(bad))
    assert code == 1 and "holds pickled objects ['net.enc." in " ".join(out.err.split())
    assert table_versions(root) == before and not Store.open(root).models.list().num_rows
