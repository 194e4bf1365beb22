"""latentops.report: a self-contained HTML report over a latent store.

queries: the store queries (ReportData). images: decodes with a loaded model. figures:
matplotlib (Agg) PNGs. html: page assembly. render: sections in page order.
"""

from latentops.report.data import ReportData
from latentops.report.html import (
    NOT_COMPUTED,
    Figure,
    Group,
    Note,
    Section,
    Table,
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
    "fmt",
    "gather",
    "render_page",
    "render_report",
    "report_sections",
]
