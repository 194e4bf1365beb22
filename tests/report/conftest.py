"""Report fixtures: small stores built by the real flows, rendered once per session."""

from __future__ import annotations

import shutil

import pytest

SMALL = {"image_size": 32, "n_items": 1500}  # the trained_store fixture's dataset
# Small pages: few items and dims, so a render takes a second or two.
OPTIONS = {
    "n_items": 2,
    "n_recon": 4,
    "max_dims": 3,
    "map_points": 300,
    "n_queries": 2,
    "k": 3,
    "n_pairs": 2,
    "steps": 4,
    "strengths": [-2.0, 0.0, 2.0],
    "traversal_values": [-2.0, 0.0, 2.0],
}
DIRECTIONS = [
    {"name": "heart", "method": "logistic", "label": "shape==2"},
    {"name": "scale", "method": "ridge", "label": "scale"},
    {"name": "pc", "method": "pca", "params": {"n_components": 1}},
]


@pytest.fixture(scope="session")
def report_store(trained_store, tmp_path_factory):
    """vae@1 encoded into table t with three directions; no edits or scores yet."""
    from latentops.flows.directions import fit_directions_flow
    from latentops.flows.encode import encode_flow
    from latentops.storage import Store

    root = tmp_path_factory.mktemp("report") / "store"
    shutil.copytree(trained_store, root)
    encode_flow(
        dataset="dsprites", model="vae@1", table="t", store=str(root), dataset_options=SMALL
    )
    fit_directions_flow("t", DIRECTIONS, store=str(root))
    return Store.open(root)


@pytest.fixture(scope="session")
def scored_store(report_store, tmp_path_factory):
    """report_store plus stored edits, a judge's scorecards and disentanglement metrics."""
    from latentops.flows.edit import edit_flow
    from latentops.flows.evaluate import evaluate_flow, metrics_flow, train_judge_flow
    from latentops.storage import Store

    root = tmp_path_factory.mktemp("scored") / "store"
    shutil.copytree(report_store.root, root)
    store = str(root)
    grid = [-2.0, 0.0, 2.0]
    edit_flow("t", directions=["heart@1", "scale@1"], strengths=grid, sample=3, store=store)
    judge = train_judge_flow(store=store, dataset_options=SMALL, epochs=1)
    evaluate_flow(
        "t",
        ["heart@1", "scale@1"],
        judge,
        strengths=grid,
        sample=16,
        ppl_items=0,
        calibrate=None,
        store=store,
    )
    metrics_flow("t", metrics=["mig", "sap"], store=store)
    return Store.open(root)


def _render(store):
    from latentops.report import ReportOptions, gather, render_report
    from latentops.tasks.report import dataset_images

    opts = ReportOptions.from_dict(OPTIONS)
    data = gather(store, options=opts)
    model, _ = store.models.load(data.model["ref"])
    return data, render_report(data, model, dataset_images(data), opts)


@pytest.fixture(scope="session")
def bare_report(report_store):
    """(ReportData, HTML) of the store without edits or scores."""
    return _render(report_store)


@pytest.fixture(scope="session")
def scored_report(scored_store):
    """(ReportData, HTML) of the store with edits, scorecards and metrics."""
    return _render(scored_store)
