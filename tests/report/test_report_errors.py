"""Bad input to the report: unknown factors, mismatched model/table, empty stores, bad files."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from latentops.errors import InvalidInputError, NotFoundError
from latentops.report import NOT_COMPUTED, SECTION_IDS, ReportOptions, gather, render_report
from latentops.storage import Store
from latentops.tasks.report import write_report
from tests.report._page import parse

PURE = (
    "prefect",
    "duckdb",
    "deltalake",
    "latentops.storage",
    "latentops.tasks",
    "latentops.flows",
    "latentops.cli",
)


def test_only_the_query_module_of_report_touches_the_store():
    folder = Path(__file__).resolve().parents[2] / "latentops" / "report"
    for path in sorted(folder.glob("*.py")):
        if path.name in ("queries.py", "__init__.py"):
            continue
        names = [
            a.name
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Import)
            for a in n.names
        ]
        names += [
            n.module or ""
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.ImportFrom)
        ]
        assert not [n for n in names if n.startswith(PURE)], path.name


def test_unknown_colour_factor_is_refused(report_store):
    with pytest.raises(
        InvalidInputError, match="--color-by 'colour' is not a factor column of 't'.*shape"
    ):
        gather(report_store, options=ReportOptions(color_by="colour"))


def test_empty_store_has_nothing_to_report(tmp_path):
    with pytest.raises(NotFoundError, match="no models yet"):
        gather(Store.open(tmp_path / "empty"))


def test_a_model_without_a_table_renders_with_notes_and_a_mismatch_is_refused(
    report_store, tmp_path
):
    shutil.copytree(report_store.root, tmp_path / "s")
    store = Store.open(tmp_path / "s")
    model, card = store.models.load("vae@1")
    ref = store.models.register(
        "vae", model, dataset=card["dataset"], dataset_fingerprint="x", train={}, metrics={}
    )
    assert str(ref) == "vae@2"
    with pytest.raises(InvalidInputError, match="table 't' holds latents of vae@1, not vae@2"):
        gather(store, model="vae@2", table="t")
    data = gather(store)  # the latest model: vae@2, never encoded
    assert data.model["ref"] == "vae@2" and data.table is None and data.directions == []
    page = parse(render_report(data, model))
    assert page.sections == list(SECTION_IDS)
    for section in ("latents", "reconstructions", "traversals", "directions", "map", "neighbours"):
        assert any(NOT_COMPUTED in n for n in page.notes[section]), section
    assert "no training history" in render_report(data, model)


def test_write_report_refuses_a_file_as_folder_and_a_non_page(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidInputError, match="is a file"):
        write_report.fn("<!DOCTYPE html>\n<html></html>", str(tmp_path / "f"))
    with pytest.raises(InvalidInputError, match="full HTML page"):
        write_report.fn("hello", str(tmp_path / "out"))
    path = write_report.fn("<!DOCTYPE html>\n<html></html>", str(tmp_path / "out"))
    assert (
        Path(path).read_text().startswith("<!DOCTYPE html>")
        and len(list((tmp_path / "out").iterdir())) == 1
    )
