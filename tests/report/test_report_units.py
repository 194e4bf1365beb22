"""Pure parts of the report: PNG tiles, decoded edits, 2-D map, page, options, artifacts."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from latentops.errors import InvalidInputError
from latentops.flows.artifacts import (
    artifact_key,
    jsonable,
    markdown_table,
    publish_link,
    publish_markdown,
    publish_summary,
)
from latentops.report import Figure, Note, ReportOptions, Section, Table, fmt, render_page
from latentops.report.html import Tiles, png_data_uri
from latentops.report.images import (
    decode,
    direction_images,
    interpolation_images,
    project_2d,
    tile_png,
    traversal_images,
)


@pytest.fixture(scope="module")
def vae(trained_store):
    from latentops.storage import Store

    model, _ = Store.open(trained_store).models.load("vae@1")
    return model


@settings(max_examples=25, deadline=None)
@given(
    c=st.sampled_from([1, 3]), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 2**16)
)
def test_tile_png_round_trips_8_bit_pixels(c, h, w, seed):
    x = np.random.default_rng(seed).random((c, h, w), dtype=np.float32)
    with Image.open(io.BytesIO(tile_png(x))) as im:
        got = np.asarray(im)
    want = np.rint(x * 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_tile_png_refuses_other_shapes():
    with pytest.raises(InvalidInputError, match=r"shape \(2, 4, 4\).*C = 1 or 3"):
        tile_png(np.zeros((2, 4, 4)))


def test_direction_strip_is_decode_of_the_walk_and_strength_zero_is_the_reconstruction(vae):
    z = np.random.default_rng(0).normal(size=(3, vae.latent_dim)).astype(np.float32)  # (N, d)
    v = np.arange(1, vae.latent_dim + 1, dtype=np.float32)  # (d,), not unit: the walk normalises
    imgs = direction_images(vae, z, v, [-2.0, 0.0, 2.0])  # (N, S, C, H, W)
    assert imgs.shape == (3, 3, *vae.x_shape)
    np.testing.assert_allclose(imgs[:, 1], decode(vae, z), atol=1e-6)
    np.testing.assert_allclose(imgs[:, 2], decode(vae, z + 2.0 * v / np.linalg.norm(v)), atol=1e-5)


def test_traversal_sets_one_coordinate(vae):
    z = np.random.default_rng(1).normal(size=(2, vae.latent_dim)).astype(np.float32)
    imgs = traversal_images(vae, z, 3, [-1.5, 0.5])  # (N, V, C, H, W)
    edited = z.copy()
    edited[:, 3] = 0.5
    np.testing.assert_allclose(imgs[:, 1], decode(vae, edited), atol=1e-5)


def test_interpolation_ends_are_exact_and_lerp_midpoint_is_the_mean(vae):
    rng = np.random.default_rng(2)
    z0, z1 = rng.normal(size=(2, 2, vae.latent_dim)).astype(np.float32)  # (P, d) each
    for method in ("lerp", "slerp"):
        path = interpolation_images(vae, z0, z1, 5, method)  # (P, T, C, H, W)
        np.testing.assert_allclose(path[:, 0], decode(vae, z0), atol=1e-5)
        np.testing.assert_allclose(path[:, -1], decode(vae, z1), atol=1e-5)
    lerp = interpolation_images(vae, z0, z1, 3, "lerp")
    np.testing.assert_allclose(lerp[:, 1], decode(vae, (z0 + z1) / 2), atol=1e-5)


def test_decode_refuses_a_model_without_decoder():
    from latentops.models import build_model

    with pytest.raises(InvalidInputError, match="no decoder"):
        decode(build_model("identity", dim=4), np.zeros((1, 4), np.float32))


def test_pca_map_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA

    z = np.random.default_rng(3).normal(size=(200, 6)) * np.array([5, 3, 1, 1, 0.5, 0.1])
    xy, method = project_2d(z, "pca")
    ref = PCA(n_components=2).fit_transform(z)  # (N, 2)
    assert method == "PCA"
    for j in range(2):
        sign = np.sign(xy[:, j] @ ref[:, j])
        np.testing.assert_allclose(xy[:, j], sign * ref[:, j], atol=1e-9)
    with pytest.raises(InvalidInputError, match=r"shape \(2, 6\)"):
        project_2d(z[:2], "pca")
    with pytest.raises(InvalidInputError, match="projection 'tsne' is unknown"):
        project_2d(z, "tsne")


def test_umap_without_umap_learn_says_how_to_install():
    pytest.importorskip("sklearn")
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidInputError, match="pip install umap-learn"):
            project_2d(np.random.default_rng(0).normal(size=(20, 3)), "umap")
    else:
        pytest.skip("umap-learn is installed")


def test_page_embeds_images_escapes_text_and_refuses_bad_blocks():
    png = tile_png(np.ones((1, 2, 2)))
    page = render_page(
        "t <&>",
        [("rows", 3)],
        [
            Section("a", "A", (Figure(png, "alt"), Table(("x", "y"), ((1, 0.123456),), key="k"))),
            Section(
                "b", "B", (Note("<b>", "missing"), Tiles(((png, None),), col_labels=("s=0", "s=1")))
            ),
        ],
    )
    assert page.count(png_data_uri(png)) == 2 and "t &lt;&amp;&gt;" in page and "&lt;b&gt;" in page
    assert '<td class="num">0.1235</td>' in page and '<section id="b">' in page
    with pytest.raises(InvalidInputError, match="section ids"):
        render_page("t", [], [Section("a", "A"), Section("a", "B")])
    with pytest.raises(InvalidInputError, match="row has 1 cells for 2 columns"):
        render_page("t", [], [Section("a", "A", (Table(("x", "y"), ((1,),)),))])
    with pytest.raises(InvalidInputError, match="1 row / 1 column labels for a 1x2 tile grid"):
        render_page("t", [], [Section("a", "A", (Tiles(((png, png),), ("r",), ("c",)),))])
    with pytest.raises(InvalidInputError, match="not the PNG signature"):
        png_data_uri(b"GIF89a")


def test_fmt_prints_numbers_one_way():
    assert [fmt(3), fmt(0.123456), fmt(1234567.0), fmt(None), fmt(float("nan")), fmt(True)] == [
        "3",
        "0.1235",
        "1.235e+06",
        "—",
        "—",
        "yes",
    ]


def test_options_validate_and_round_trip():
    opts = ReportOptions(strengths=[-1, 1], color_by="scale")
    assert opts.strengths == (-1.0, 1.0) and hash(opts)
    assert ReportOptions.from_dict(opts.to_dict()) == opts
    with pytest.raises(InvalidInputError, match=r"unknown report options \['colour'\]"):
        ReportOptions.from_dict({"colour": "red"})
    with pytest.raises(InvalidInputError, match=r"n_items=0 must be an int in \[1, 12\]"):
        ReportOptions(n_items=0)
    with pytest.raises(InvalidInputError, match="strengths=.*finite numbers"):
        ReportOptions(strengths=[float("nan")])
    with pytest.raises(InvalidInputError, match="projection='tsne'"):
        ReportOptions(projection="tsne")


def test_artifact_keys_values_and_markdown():
    assert artifact_key("Report", "demo-vae@1") == "report-demo-vae-1"
    assert artifact_key("latents", "dsprites_VAE_v1", "") == "latents-dsprites-vae-v1"
    with pytest.raises(InvalidInputError, match="no letters or digits"):
        artifact_key("@@", "")
    when = datetime(2026, 1, 2, tzinfo=UTC)
    assert jsonable(
        {"a": np.float32(0.5), "b": np.int64(3), "c": [when, float("nan")], "d": torch.tensor(2)}
    ) == {"a": 0.5, "b": 3, "c": ["2026-01-02T00:00:00+00:00", None], "d": 2}
    md = markdown_table([{"k": "a|b", "v": 0.123456}, {"k": "c", "w": None}])
    assert md.splitlines() == [
        "| k | v | w |",
        "|---|---|---|",
        "| a\\|b | 0.1235 | — |",
        "| c | — | — |",
    ]


def test_publishing_outside_a_run_is_a_no_op_but_still_checks_input():
    assert publish_summary("x", "t", {"a": 1}) is None
    assert publish_markdown("x", "t", "hi") is None
    assert publish_link("x", "t", "file:///tmp/r.html") is None
    with pytest.raises(InvalidInputError, match="non-empty link"):
        publish_link("x", "t", "")


def test_report_prefers_an_encoded_table_to_prior_samples(store):
    from latentops.models import build_model
    from latentops.report.queries import pick_model_and_table
    from latentops.storage.latents import SAMPLED, latent_schema

    ref = str(
        store.models.register(
            "g", build_model("vae", latent_dim=2, image_size=32), dataset="dsprites",
            dataset_fingerprint="x", train={}, metrics={},
        )
    )  # fmt: skip
    schema = latent_schema({}, with_logvar=False)
    for name, extra in (("a_samples", {"source": SAMPLED, "seed": 0}), ("b_encoded", {})):
        card = {"kind": "latents", "d": 2, "model": ref, **extra}
        store.latents(name).ensure(schema, card, None)
    assert pick_model_and_table(store, ref, None)[1] == "b_encoded"
