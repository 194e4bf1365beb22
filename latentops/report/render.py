"""render_report: queried ReportData + a loaded model -> one self-contained HTML page."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from latentops.models import Autoencoder
from latentops.report.data import ReportData
from latentops.report.direction_sections import (
    directions_section,
    disentanglement_section,
    entanglement_section,
)
from latentops.report.html import Section, render_page
from latentops.report.options import ReportOptions
from latentops.report.sections import (
    edits_section,
    interpolation_section,
    latents_section,
    map_section,
    model_section,
    neighbour_section,
    reconstruction_section,
    traversal_section,
)

SECTION_IDS = (
    "model",
    "latents",
    "reconstructions",
    "traversals",
    "directions",
    "entanglement",
    "interpolation",
    "disentanglement",
    "map",
    "neighbours",
    "edits",
)


def report_sections(
    data: ReportData,
    model: Autoencoder | None,
    originals: Mapping[int, np.ndarray] | None = None,
    options: ReportOptions | None = None,
) -> list[Section]:
    """Every section of the report, in page order (ids as in SECTION_IDS)."""
    opts = options or ReportOptions()
    return [
        model_section(data),
        latents_section(data),
        reconstruction_section(data, model, originals, opts),
        traversal_section(data, model, opts),
        directions_section(data, model, opts),
        entanglement_section(data),
        interpolation_section(data, model, opts),
        disentanglement_section(data),
        map_section(data, opts),
        neighbour_section(data, model, originals),
        edits_section(data),
    ]


def render_report(
    data: ReportData,
    model: Autoencoder | None,
    originals: Mapping[int, np.ndarray] | None = None,
    options: ReportOptions | None = None,
) -> str:
    """The report page for ``data``: images decoded with ``model``, ``originals`` by item_id."""
    facts = [
        ("store", data.store),
        ("model", data.model["ref"]),
        ("latent table", data.table or "—"),
    ]
    if data.table is not None:
        facts += [("table version", data.table_version), ("rows", data.n_rows)]
    facts.append(("directions", len(data.directions)))
    title = f"latentops report: {data.model['ref']}"
    return render_page(title, facts, report_sections(data, model, originals, options))
