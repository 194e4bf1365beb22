"""The rendered page against the store it was rendered from: sections, images, numbers."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from latentops.report import NOT_COMPUTED, SECTION_IDS, fmt
from latentops.report.queries import direction_cosines as cosine_matrix
from tests.report._page import parse, rows


def _decodes(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as im:
        im.load()  # raises on truncated or corrupt data
        return im.size


def test_bare_store_page_has_every_section_and_marks_what_is_missing(bare_report):
    _, html = bare_report
    page = parse(html)
    assert page.sections == list(SECTION_IDS)
    for section in ("disentanglement", "edits", "entanglement", "directions"):
        assert any(NOT_COMPUTED in n for n in page.notes[section]), section
    # one group per direction, each with a decoded strip but no scorecard yet
    assert page.groups == ["heart@1", "pc-pca0@1", "scale@1"]
    assert sum(NOT_COMPUTED in n for n in page.notes["directions"]) == 3
    for section in ("model", "latents", "reconstructions", "traversals", "interpolation", "map"):
        assert section not in page.notes, f"{section}: {page.notes.get(section)}"


def test_every_image_is_a_decodable_png_and_the_page_stays_small(bare_report):
    _, html = bare_report
    page = parse(html)
    sizes = [_decodes(png) for _, png in page.images]
    # model curves + activity bars + map + cosine heatmap at least, plus 32x32 tiles
    assert sum(s == (32, 32) for s in sizes) >= 4 * 2 + 3 * 2 * 3 + 3 * 2 * 3 + 2 * 2 * 4
    assert {
        "model",
        "latents",
        "reconstructions",
        "traversals",
        "directions",
        "entanglement",
        "interpolation",
        "map",
        "neighbours",
    } <= {s for s, _ in page.images}
    assert len(html.encode()) < 3_000_000
    assert "http://" not in html and "https://" not in html  # nothing to fetch: opens offline


def test_table_numbers_equal_store_queries(report_store, bare_report):
    data, html = bare_report
    page = parse(html)
    sql = report_store.sql("SELECT split, count(*) AS n FROM latents.t GROUP BY split").to_pylist()
    counts = {r["split"]: r["n"] for r in sql}
    splits = {r["split"]: r["rows"] for r in rows(page, "splits")}
    assert splits == {**{k: str(v) for k, v in counts.items()}, "total": str(sum(counts.values()))}
    assert splits["total"] == str(
        report_store.sql("SELECT count(*) AS n FROM latents.t")["n"][0].as_py()
    )

    # storage figures and pins = the store's own accounting
    from latentops._units import size
    from latentops.storage.maintain import usage
    from latentops.storage.pins import pins

    used = usage(report_store.root / "latents" / "t")
    (shown,) = rows(page, "storage")
    assert shown["data files"] == str(used.files) and shown["data"] == size(used.bytes)
    assert shown["versions"] == str(used.versions)
    pinned = {p.version for p in pins(report_store, "t")}
    assert shown["pinned versions"] == str(len(pinned)) and pinned
    by_version = {int(r["version"]): r["pinned by"] for r in rows(page, "pins")}
    assert set(by_version) == pinned
    directions = sum(p.kind == "direction" for p in pins(report_store, "t"))
    assert f"{directions} direction" in " ".join(by_version.values())

    # held-out scores printed = the catalog's metrics
    printed = {r["direction"]: r for r in rows(page, "directions")}
    heart, _, _ = report_store.directions.get("heart@1")
    scale, _, _ = report_store.directions.get("scale@1")
    assert printed["heart@1"]["held-out metric"] == "AUC"
    assert printed["heart@1"]["value"] == fmt(heart.metrics["auc"])
    assert printed["scale@1"]["value"] == fmt(scale.metrics["r2"])
    # the linear and k-NN probes side by side
    assert printed["scale@1"]["linear probe"] == fmt(scale.metrics["linear_r2"])
    assert printed["scale@1"]["kNN probe"] == fmt(scale.metrics["knn_r2"])
    assert printed["heart@1"]["kNN probe"] == fmt(heart.metrics["knn_accuracy"])
    assert printed["heart@1"]["fitted on"] == f"t@{report_store.latent_table('t').version}"

    # per-dimension std / KL against numpy over the stored z and z_logvar
    snap = report_store.latent_table("t").read()
    z = np.stack(snap["z"].to_numpy(zero_copy_only=False)).astype(np.float64)  # (N, d)
    lv = np.stack(snap["z_logvar"].to_numpy(zero_copy_only=False)).astype(np.float64)
    kl = 0.5 * (z**2 + np.exp(lv) - lv - 1).mean(axis=0)  # (d,)
    for r in rows(page, "dims"):
        j = int(r["dim"])
        assert float(r["std z"]) == pytest.approx(z[:, j].std(), rel=2e-3)
        assert float(r["mean KL"]) == pytest.approx(kl[j], rel=2e-3)

    # neighbours = Store.knn
    hits = report_store.knn("t", item_id=data.sample_ids[:2].tolist(), k=3).to_pylist()
    shown = rows(page, "neighbours")
    assert [(int(r["query"]), int(r["item_id"])) for r in shown] == [
        (h["query"], h["item_id"]) for h in hits
    ]
    assert [r["cosine distance"] for r in shown] == [fmt(h["distance"]) for h in hits]

    card = {r["field"]: r["value"] for r in rows(page, "model-card")}
    stored = report_store.models.card("vae@1")
    assert card["model"] == "vae@1" and card["parameters"] == str(stored["n_params"])
    assert card["final loss"] == fmt(stored["metrics"]["final"]["loss"])


def test_cosine_matrix_query_matches_the_catalog_vectors(report_store):
    refs = ["heart@1", "scale@1", "pc-pca0@1"]
    got = cosine_matrix(report_store, refs)
    for i, a in enumerate(refs):
        for j, b in enumerate(refs):
            da, _, _ = report_store.directions.get(a)
            db, _, _ = report_store.directions.get(b)
            assert got[i, j] == pytest.approx(da.cosine(db), abs=1e-5)


def test_scored_page_shows_stored_edits_scorecards_and_metrics(scored_store, scored_report):
    data, html = scored_report
    page = parse(html)
    assert page.sections == list(SECTION_IDS)
    assert "disentanglement" not in page.notes and "edits" not in page.notes
    # the off-target matrix exists now; only the unscored pca direction lacks a scorecard
    assert not any("off-target" in n for n in page.notes.get("entanglement", []))
    assert sum(NOT_COMPUTED in n for n in page.notes["directions"]) == 1
    # each scorecard names its judge with the judge's held-out accuracy on the judged attribute
    judge = scored_store.judges.card("dsprites-judge@1")["metrics"]["held_out_accuracy"]
    assert f"judge dsprites-judge@1 (held-out accuracy {fmt(judge['shape'])})" in html

    # strips are the stored thumbnails, byte for byte
    pngs = scored_store.sql(
        "SELECT png FROM edits WHERE direction = 'heart@1' AND item_id = "
        "(SELECT min(item_id) FROM edits WHERE direction = 'heart@1')"
    )["png"].to_pylist()
    assert len(pngs) == 3
    for png in pngs:
        assert base64.b64encode(png).decode() in html

    # scorecard cells = the latest run's rows of the scores table
    for ref in ("heart@1", "scale@1"):
        sql = scored_store.sql(
            "SELECT metric, strength, value FROM scores "
            "WHERE direction = ? AND strength IS NOT NULL "
            "AND (metric NOT LIKE 'off_target.%' OR metric = 'off_target.max')",
            [ref],
        ).to_pylist()
        table = {r["metric"]: r for r in rows(page, f"scorecard-{ref}")}
        assert set(table) == {r["metric"] for r in sql}
        for r in sql:
            assert table[r["metric"]][fmt(r["strength"])] == fmt(r["value"]), (ref, r)
        summary = {r["metric"]: r["value"] for r in rows(page, f"summary-{ref}")}
        linearity = scored_store.sql(
            "SELECT value FROM scores WHERE direction = ? AND metric = 'linearity.r2'", [ref]
        )
        assert summary["linearity.r2"] == fmt(linearity["value"][0].as_py())
        # strengths were in std of the data along the direction (recorded in the protocol)
        unit = scored_store.sql(
            "SELECT DISTINCT json_extract_string(params_json, '$.strength_unit') AS u "
            "FROM scores WHERE direction = ?",
            [ref],
        )["u"].to_pylist()
        assert unit == ["std"] and "semantics.weak" in summary
    assert html.count("x axis: edit strength (std of the data along the direction)") == 2
    # a weak-semantics warning under exactly the directions whose stored flag is 1
    weak = scored_store.sql(
        "SELECT count(*) AS n FROM scores WHERE metric = 'semantics.weak' AND value = 1"
    )["n"][0].as_py()
    assert html.count("weak semantics: the latents encode the label") == weak

    metrics = {r["metric"]: r["value"] for r in rows(page, "disentanglement")}
    sql = scored_store.sql(
        "SELECT metric, value FROM scores WHERE kind = 'disentanglement'"
    ).to_pylist()
    assert metrics == {r["metric"]: fmt(r["value"]) for r in sql}
    assert {"mig", "sap"} <= set(metrics)

    edits = {r["kind"]: r for r in rows(page, "edits")}
    n = scored_store.sql("SELECT count(*) AS n, count(png) AS p FROM edits").to_pylist()[0]
    assert edits["direction"]["edits"] == str(n["n"]) == str(2 * 3 * 3)
    assert edits["direction"]["thumbnails"] == str(n["p"])
    assert data.summary()["scored_directions"] == 2 and json.dumps(data.summary(), default=str)


def test_every_direction_gets_a_group_a_verdict_and_one_scale_per_attribute(scored_store):
    from latentops.evaluation.verdict import verdict
    from latentops.report import ReportOptions, gather, render_report
    from latentops.report.direction_sections import MIN_SPAN, attribute_scales
    from latentops.tasks.report import dataset_images
    from tests.report.conftest import OPTIONS

    opts = ReportOptions.from_dict({**OPTIONS, "max_directions": 1})  # fewer than the 3 fitted
    data = gather(scored_store, options=opts)
    model, _ = scored_store.models.load(data.model["ref"])
    page = parse(render_report(data, model, dataset_images(data), opts))
    refs = sorted(
        r["ref"]
        for r in scored_store.sql(
            "SELECT name || '@' || max(version) AS ref FROM directions GROUP BY name"
        ).to_pylist()
    )
    # no silent cap: every direction has its catalog row and its group
    assert sorted(r["direction"] for r in rows(page, "directions")) == refs
    assert sorted(g for g in page.groups if g in refs) == refs
    catalog = {r["direction"]: r["verdict"] for r in rows(page, "directions")}
    for ref in ("heart@1", "scale@1"):
        assert catalog[ref] == verdict(data.edit_scores[ref])
    assert catalog["pc-pca0@1"] == "not scored"
    scales = attribute_scales(data.edit_scores)
    assert set(scales) == {"shape", "scale"}
    assert all(hi - lo >= MIN_SPAN for lo, hi in scales.values())
