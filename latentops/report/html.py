"""Page assembly: sections of blocks (figures, tables, notes) -> one self-contained HTML page.

Everything the page needs travels inside it: the CSS is embedded and figures are base64 PNG
data URIs, so the file opens offline and can be mailed or attached as a CI artifact.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from latentops.errors import InvalidInputError

NOT_COMPUTED = "not computed yet"


@dataclass(frozen=True)
class Figure:
    """A rendered PNG with alt text and a caption (wrapped at the image width)."""

    png: bytes
    alt: str
    caption: str = ""


@dataclass(frozen=True)
class Tiles:
    """A labelled grid of image tiles: PNG bytes per cell (None leaves the cell empty)."""

    cells: tuple[tuple[bytes | None, ...], ...]
    row_labels: tuple[str, ...] = ()
    col_labels: tuple[str, ...] = ()
    cell_labels: tuple[tuple[str, ...], ...] = ()
    title: str = ""
    caption: str = ""
    alt: str = "image"
    size: int = 56  # displayed pixels per tile (tiles are upscaled without smoothing)


@dataclass(frozen=True)
class Table:
    """Rows under named columns; ``key`` becomes the table's ``data-key`` (tests, scraping)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    caption: str = ""
    key: str = ""


@dataclass(frozen=True)
class Note:
    """A short paragraph; kind ``missing`` marks a part that is not computed yet, ``warning``
    a result to distrust (e.g. weak semantics)."""

    text: str
    kind: str = "info"  # "info", "missing" or "warning"


@dataclass(frozen=True)
class Group:
    """A titled sub-section (e.g. one direction) laid out as a row of blocks."""

    title: str
    blocks: tuple[Block, ...]
    key: str = ""


Block = Figure | Tiles | Table | Note | Group


@dataclass(frozen=True)
class Section:
    """One top-level section with a stable ``id`` (the table of contents links to it)."""

    id: str
    title: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)
    intro: str = ""


def fmt(value: Any) -> str:
    """How every number is printed: ints as is, floats with 4 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def png_data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI (refuses bytes that are not a PNG)."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InvalidInputError(
            f"figure bytes start with {png[:8]!r}, not the PNG signature; render figures with "
            "latentops.report.figures"
        )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _figure(fig: Figure) -> str:
    caption = f"<figcaption>{_esc(fig.caption)}</figcaption>" if fig.caption else ""
    return (
        f'<figure class="fig"><img src="{png_data_uri(fig.png)}" alt="{_esc(fig.alt)}">'
        f"{caption}</figure>"
    )


def _tiles(t: Tiles) -> str:
    n_cols = max((len(r) for r in t.cells), default=0)
    if (
        t.row_labels
        and len(t.row_labels) != len(t.cells)
        or t.col_labels
        and len(t.col_labels) != n_cols
    ):
        raise InvalidInputError(
            f"{len(t.row_labels)} row / {len(t.col_labels)} column labels for a "
            f"{len(t.cells)}x{n_cols} tile grid; pass one label per row and column"
        )
    corner = "<th></th>" if t.row_labels else ""
    head = (
        (
            f"<thead><tr>{corner}"
            + "".join(f"<th>{_esc(c)}</th>" for c in t.col_labels)
            + "</tr></thead>"
        )
        if t.col_labels
        else ""
    )
    body = []
    for r, row in enumerate(t.cells):
        cells = [f"<th>{_esc(t.row_labels[r])}</th>"] if t.row_labels else []
        for c in range(n_cols):
            png = row[c] if c < len(row) else None
            label = (
                t.cell_labels[r][c] if r < len(t.cell_labels) and c < len(t.cell_labels[r]) else ""
            )
            img = (
                f'<img src="{png_data_uri(png)}" width="{t.size}" height="{t.size}" '
                f'alt="{_esc(t.alt)}">'
                if png is not None
                else f'<span class="empty" style="width:{t.size}px;height:{t.size}px"></span>'
            )
            sub = f'<div class="cl">{_esc(label)}</div>' if label else ""
            cells.append(f"<td>{img}{sub}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    title = f'<div class="ttl">{_esc(t.title)}</div>' if t.title else ""
    caption = f"<figcaption>{_esc(t.caption)}</figcaption>" if t.caption else ""
    return (
        f'<figure class="tilefig">{title}<table class="tiles">{head}<tbody>{"".join(body)}'
        f"</tbody></table>{caption}</figure>"
    )


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _table(tab: Table) -> str:
    for row in tab.rows:
        if len(row) != len(tab.columns):
            raise InvalidInputError(
                f"table {tab.key or tab.caption!r} row has {len(row)} cells for "
                f"{len(tab.columns)} columns; build rows with one value per column"
            )
    # a column of numbers (blanks allowed) is right-aligned, header included
    numeric = [
        any(_is_num(r[c]) for r in tab.rows)
        and all(r[c] is None or _is_num(r[c]) for r in tab.rows)
        for c in range(len(tab.columns))
    ]
    head = "".join(
        f'<th class="{"num" if num else "txt"}">{_esc(c)}</th>'
        for c, num in zip(tab.columns, numeric, strict=True)
    )
    body = []
    for row in tab.rows:
        cells = "".join(
            f'<td class="{"num" if _is_num(v) else "txt"}">{_esc(fmt(v))}</td>' for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    caption = f"<caption>{_esc(tab.caption)}</caption>" if tab.caption else ""
    key = f' data-key="{_esc(tab.key)}"' if tab.key else ""
    return (
        f'<div class="tablewrap"><table{key}>{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _block(block: Block) -> str:
    if isinstance(block, Figure):
        return _figure(block)
    if isinstance(block, Tiles):
        return _tiles(block)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Note):
        return f'<p class="note {_esc(block.kind)}">{_esc(block.text)}</p>'
    if isinstance(block, Group):
        key = f' data-key="{_esc(block.key)}"' if block.key else ""
        inner = "".join(_block(b) for b in block.blocks)
        title = f"<h3>{_esc(block.title)}</h3>"
        return f'<div class="group"{key}>{title}<div class="row">{inner}</div></div>'
    raise InvalidInputError(f"cannot render block of type {type(block).__name__}")


def render_page(title: str, facts: Sequence[tuple[str, Any]], sections: Sequence[Section]) -> str:
    """The whole report page: header facts, a table of contents and every section."""
    ids = [s.id for s in sections]
    if len(set(ids)) != len(ids):
        raise InvalidInputError(f"section ids {ids} repeat; every section needs its own id")
    toc = "".join(f'<li><a href="#{_esc(s.id)}">{_esc(s.title)}</a></li>' for s in sections)
    header = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(fmt(v))}</dd></div>" for k, v in facts)
    body = []
    for s in sections:
        intro = f'<p class="intro">{_esc(s.intro)}</p>' if s.intro else ""
        inner = "".join(_block(b) for b in s.blocks)
        body.append(
            f'<section id="{_esc(s.id)}"><h2>{_esc(s.title)}</h2>{intro}'
            f'<div class="row">{inner}</div></section>'
        )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body>"
        f'<nav><div class="brand">latentops</div><ol>{toc}</ol></nav>'
        f'<main><header><h1>{_esc(title)}</h1><dl class="facts">{header}</dl></header>'
        f"{''.join(body)}</main></body></html>\n"
    )


CSS = """
:root { --ink: #1d2430; --muted: #5b6676; --line: #dde3ea; --bg: #f6f8fa; --accent: #2f6feb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: var(--bg); }
nav { position: fixed; top: 0; left: 0; bottom: 0; width: 210px; padding: 18px 14px;
      background: #fff; border-right: 1px solid var(--line); overflow-y: auto; }
nav .brand { font-weight: 700; font-size: 17px; margin-bottom: 12px; }
nav ol { margin: 0; padding-left: 20px; }
nav li { margin: 5px 0; }
nav a { color: var(--ink); text-decoration: none; }
nav a:hover { color: var(--accent); }
main { margin-left: 210px; padding: 20px 28px 60px; max-width: 1240px; }
header h1 { margin: 0 0 10px; font-size: 22px; }
dl.facts { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 0; }
dl.facts div { display: flex; gap: 6px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
          padding: 14px 18px; margin-top: 18px; }
h2 { margin: 0 0 8px; font-size: 18px; }
h3 { margin: 4px 0 8px; font-size: 15px; }
p.intro { margin: 0 0 10px; color: var(--muted); }
.row { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.group { flex: 1 1 540px; border-top: 1px solid var(--line); padding-top: 10px; }
figure { margin: 0; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; image-rendering: auto; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 3px; }
/* a caption wraps at its figure's width instead of widening the figure */
figure.fig, figure.tilefig { display: table; }
figure.fig figcaption, figure.tilefig figcaption { display: table-caption; caption-side: bottom; }
.tablewrap { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 9px; text-align: left;
         white-space: nowrap; }
th { background: var(--bg); font-weight: 600; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { margin: 4px 0; padding: 6px 10px; border-radius: 6px; background: var(--bg); }
p.note.missing { background: #fff6e5; border: 1px dashed #e3b341; color: #7a5200; }
p.note.warning { background: #fdecea; border: 1px solid #d1495b; color: #8a1c2b; }
table.tiles { border-collapse: separate; border-spacing: 3px; font-size: 11.5px; }
table.tiles th, table.tiles td { border: 0; padding: 0; background: none; text-align: center;
         font-weight: 500; color: var(--muted); vertical-align: middle; }
table.tiles tbody th { text-align: right; padding-right: 6px; white-space: nowrap; }
table.tiles img { display: block; image-rendering: pixelated; border: 1px solid var(--line); }
table.tiles span.empty { display: block; background: var(--bg); }
table.tiles .cl { font-size: 10px; color: var(--muted); white-space: nowrap; }
table.tiles thead th { font-size: 10.5px; }
.tilefig .ttl { font-weight: 600; font-size: 12.5px; margin-bottom: 2px; }
@media (max-width: 800px) { nav { display: none; } main { margin-left: 0; } }
"""
