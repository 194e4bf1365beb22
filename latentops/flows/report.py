"""Report flow: one self-contained HTML page over a model's latent table, linked from Prefect."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from latentops.flows.artifacts import artifact_key, markdown_table, publish_link, publish_markdown
from latentops.refs import parse_ref
from latentops.storage import Location, Store
from latentops.tasks.report import build_report, write_report


def default_out(root: str, model: str) -> str:
    """Where a report goes by default: ``<store>/reports/<model name>-v<version>/``."""
    ref = parse_ref(model, "model")
    return str(Location.of(root).child("reports", f"{ref.name}-v{ref.version}"))


@flow(name="report")
def report_flow(
    store: str | None = None,
    *,
    model: str | None = None,
    table: str | None = None,
    out: str | None = None,
    color_by: str | None = None,
    options: dict[str, Any] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Write ``report.html`` for ``model`` (default: latest); publish link + summary artifacts."""
    root = str(Store.open(store, create=False).root)
    settings = dict(options or {})
    if color_by is not None:
        settings["color_by"] = color_by

    built = build_report(root, model, table, settings, device)
    html = built.pop("html")
    path = write_report(html, out or default_out(root, built["model"]))

    summary = {**built, "path": path, "bytes": len(html.encode())}
    key = artifact_key("report", built["model"])
    publish_link(
        key,
        f"latentops report of {built['model']}",
        Location.of(path).as_uri(),
        f"{built['model']} report",
    )
    rows = [
        {"field": k, "value": "not computed yet" if v is None else v} for k, v in summary.items()
    ]
    publish_markdown(f"{key}-summary", f"Report of {built['model']}", markdown_table(rows))
    get_run_logger().info("report of %s written to %s", built["model"], path)
    return summary
