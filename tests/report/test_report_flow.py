"""report_flow end to end: the file, the summary, the Prefect artifacts and the CLI command."""

from __future__ import annotations

import shutil

import pytest

from latentops.cli import main
from latentops.flows.report import default_out, report_flow
from latentops.report import NOT_COMPUTED
from tests.report._page import parse
from tests.report.conftest import OPTIONS


@pytest.fixture
def store_copy(report_store, tmp_path):
    from latentops.storage import Store

    root = tmp_path / "store"
    shutil.copytree(report_store.root, root)
    return Store.open(root)


def test_flow_writes_the_page_and_publishes_link_and_summary(store_copy, read_artifacts):
    out = report_flow(store=str(store_copy.root), options=OPTIONS, color_by="scale")
    path = store_copy.root / "reports" / "vae-v1" / "report.html"
    assert (
        out["path"] == str(path) == str(default_out(str(store_copy.root), "vae@1")) + "/report.html"
    )
    html = path.read_text()
    assert parse(html).sections[0] == "model" and out["bytes"] == len(html.encode())
    n = store_copy.sql("SELECT count(*) AS n FROM latents.t")["n"][0].as_py()
    assert (out["model"], out["table"], out["rows"], out["directions"]) == ("vae@1", "t", n, 3)
    assert out["edits"] is None and out["scored_directions"] is None and out["dataset_images"]
    assert "coloured by scale" in html  # the chosen factor colours the map

    (link,) = read_artifacts("report-vae-1")
    # Prefect 3 stores a link artifact as a markdown link to the page
    assert f"({path.as_uri()})" in link.data and link.flow_run_id is not None
    (summary,) = read_artifacts("report-vae-1-summary")
    assert summary.type == "markdown" and summary.flow_run_id == link.flow_run_id
    assert f"| edits | {NOT_COMPUTED} |" in summary.data and f"| rows | {n} |" in summary.data


def test_cli_report_writes_to_out_and_refuses_unknown_factor(store_copy, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "report",
                "--store",
                str(store_copy.root),
                "--out",
                str(tmp_path / "r"),
                "--n-items",
                "1",
                "--color-by",
                "shape",
                "--projection",
                "pca",
            ]
        )
    captured = capsys.readouterr()
    assert exc.value.code == 0, captured.err
    assert (tmp_path / "r" / "report.html").exists() and "report.html" in captured.out
    assert "not computed yet: edits" in captured.out

    with pytest.raises(SystemExit) as exc:
        main(["report", "--store", str(store_copy.root), "--color-by", "colour"])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and "colour" in err and "shape" in err
