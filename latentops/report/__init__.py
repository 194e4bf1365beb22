"""latentops.report: a self-contained HTML report over a latent store.

queries: the store queries (``gather`` -> ReportData; the only module that reads the store).
data: ReportData. images: decodes with a loaded model, PNG tiles, the 2-D projection.
figures: matplotlib (Agg) plots. html: page assembly. render: the sections in page order.
"""

from latentops.report.data import ReportData
from latentops.report.html import (
    NOT_COMPUTED,
    Figure,
    Group,
    Note,
    Section,
    Table,
    Tiles,
    fmt,
    render_page,
)
from latentops.report.options import ReportOptions
from latentops.report.queries import gather
from latentops.report.render import SECTION_IDS, render_report, report_sections

__all__ = [
    "NOT_COMPUTED",
    "SECTION_IDS",
    "Figure",
    "Group",
    "Note",
    "ReportData",
    "ReportOptions",
    "Section",
    "Table",
    "Tiles",
    "fmt",
    "gather",
    "render_page",
    "render_report",
    "report_sections",
]
