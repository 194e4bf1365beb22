"""Read a report page back: sections, images, tables and notes (stdlib html.parser)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Page:
    sections: list[str] = field(default_factory=list)
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (section, png bytes)
    tables: dict[str, list[list[str]]] = field(
        default_factory=dict
    )  # data-key -> rows (header first)
    notes: dict[str, list[str]] = field(default_factory=dict)  # section -> missing notes
    groups: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self.section = ""
        self.table: list[list[str]] | None = None
        self.cell: list[str] | None = None
        self.note: list[str] | None = None
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section = a["id"]
            self.page.sections.append(self.section)
        elif tag == "img":
            prefix = "data:image/png;base64,"
            assert a["src"].startswith(prefix), a["src"][:40]
            self.page.images.append((self.section, base64.b64decode(a["src"][len(prefix) :])))
        elif tag == "table" and "data-key" in a:
            self.table = self.page.tables.setdefault(a["data-key"], [])
        elif tag == "tr" and self.table is not None:
            self.table.append([])
        elif tag in ("td", "th") and self.table is not None:
            self.cell = []
        elif tag == "p" and "missing" in a.get("class", ""):
            self.note = []
        elif tag == "div" and "group" in a.get("class", "").split() and "data-key" in a:
            self.page.groups.append(a["data-key"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.table[-1].append("".join(self.cell))
            self.cell = None
        elif tag == "table":
            self.table = None
        elif tag == "p" and self.note is not None:
            self.page.notes.setdefault(self.section, []).append("".join(self.note))
            self.note = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        if self.note is not None:
            self.note.append(data)


def parse(html: str) -> Page:
    parser = _Parser()
    parser.feed(html)
    return parser.page


def rows(page: Page, key: str) -> list[dict[str, str]]:
    """A data-key table as dicts (header -> cell text)."""
    header, *body = page.tables[key]
    return [dict(zip(header, r, strict=True)) for r in body]
