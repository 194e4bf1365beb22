"""``latentops demo --text`` as a user runs it: sentences before/after, figures, a report with
the sentences, and every ``latentops ...`` hint it prints runs as printed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from latentops.storage import Store
from tests._shell import check_ok, hints, run_line

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def text_demo(cli_env, tmp_path_factory):
    """One small ``latentops demo --text`` in an empty directory, offline."""
    cwd = tmp_path_factory.mktemp("text-demo")
    env = {**cli_env, "PATH": f"{BIN}:{cli_env.get('PATH', '')}", "HF_HUB_OFFLINE": "1"}
    line = "latentops demo --text --text-items 300 --store ./text-store"
    result = run_line(line, env, cwd)
    check_ok(line, result)
    return result, cwd, env


@pytest.mark.slow
def test_text_demo_prints_sentences_and_figures(text_demo):
    result, cwd, _ = text_demo
    out = result.stdout
    # every shown item: its sentence, then one decoded sentence per strength with its fidelity
    assert len(re.findall(r"^\s+[+-]\d\.\d  .+\(fidelity 0\.\d{3}\)", out, re.M)) >= 7 * 4
    assert "text scorecards" in out and "VADER compound of the decoded" in out
    store = Store.open(cwd / "text-store")
    scores = store.sql(
        "SELECT direction, max(value) FILTER (metric = 'text.strength.spearman') AS rho, "
        "max(value) FILTER (metric = 'text.strength.item_spearman_median') AS item_rho "
        "FROM scores GROUP BY direction ORDER BY direction"
    ).to_pylist()
    assert [r["direction"] for r in scores] == ["formal@1", "sentiment@1", "topic_books@1"]
    sentiment = next(r for r in scores if r["direction"] == "sentiment@1")
    assert sentiment["rho"] >= 0.9  # the mean VADER compound rises with the strength
    assert sentiment["item_rho"] >= 0.9  # and so does each item's (over its 5 nearest sentences)
    html = (cwd / "text-store" / "reports" / "minilm-v1" / "report.html").read_text()
    assert 'data-key="sentences-sentiment@1"' in html and "fidelity" in html


@pytest.mark.slow
def test_text_demo_hints_run_as_printed(text_demo):
    result, cwd, env = text_demo
    lines = hints(result.stdout)
    assert len(lines) == 2
    for line in lines:
        check_ok(line, run_line(line, env, cwd))
