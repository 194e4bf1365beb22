"""Prefect artifacts for flows: what a run produced, visible in the Prefect UI.

Thin helpers over ``prefect.artifacts`` that (1) turn any name into a valid artifact key
(lowercase letters, digits and dashes), (2) make values JSON-safe (numpy scalars, datetimes,
paths) and (3) do nothing outside a flow or task run, where Prefect has no run to attach an
artifact to (e.g. a task body called with ``.fn`` in a test).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context
from prefect.exceptions import MissingContextError

from latentops.errors import InvalidInputError

_NOT_KEY = re.compile(r"[^a-z0-9]+")
_MAX_CELL = 120  # characters of one markdown table cell before it is shortened


def artifact_key(*parts: str) -> str:
    """Artifact key from name parts: ``("report", "demo-vae@1")`` -> ``report-demo-vae-1``."""
    key = "-".join(
        p for p in (_NOT_KEY.sub("-", str(part).lower()).strip("-") for part in parts) if p
    )
    if not key:
        raise InvalidInputError(
            f"artifact key parts {parts!r} have no letters or digits; pass a name such as 'report'"
        )
    return key


def in_run() -> bool:
    """True inside a Prefect flow or task run (where artifacts attach to the run)."""
    try:
        get_run_context()
    except MissingContextError:
        return False
    return True


def jsonable(value: Any) -> Any:
    """A value Prefect can store in an artifact: numbers, strings, bools, None, lists, dicts."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path | UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item) and getattr(value, "ndim", 1) == 0:
        return jsonable(item())
    return str(value)


def _cell(value: Any) -> str:
    text = (
        "—"
        if value is None
        else f"{value:.4g}"
        if isinstance(value, float)
        else str(jsonable(value))
    )
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows of dicts as a GitHub-flavoured markdown table (columns in first-seen order)."""
    if not rows:
        return "_no rows_"
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def publish_summary(
    key: str, title: str, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> UUID | None:
    """A table artifact: a list of row dicts, or one dict shown as (field, value) rows."""
    if isinstance(rows, Mapping):
        table = [{"field": str(k), "value": jsonable(v)} for k, v in rows.items()]
    else:
        table = [{str(k): jsonable(v) for k, v in row.items()} for row in rows]
    if not in_run():
        return None
    return create_table_artifact(table=table, key=artifact_key(key), description=title)


def publish_markdown(key: str, title: str, markdown: str) -> UUID | None:
    """A markdown artifact headed by ``title``."""
    if not in_run():
        return None
    return create_markdown_artifact(
        markdown=f"## {title}\n\n{markdown}", key=artifact_key(key), description=title
    )


def publish_link(key: str, title: str, link: str, link_text: str | None = None) -> UUID | None:
    """A link artifact (e.g. ``file:///.../report.html`` or an object-store URL)."""
    if not link:
        raise InvalidInputError("publish_link needs a non-empty link, e.g. a file:// URI")
    if not in_run():
        return None
    return create_link_artifact(
        link=link, link_text=link_text or title, key=artifact_key(key), description=title
    )


def publish_flow_summary(key: str, title: str, result: Mapping[str, Any]) -> UUID | None:
    """A markdown artifact of a flow's result dict: one (field, value) row per entry."""
    rows = [{"field": k, "value": v} for k, v in result.items()]
    return publish_markdown(key, title, markdown_table(rows))
