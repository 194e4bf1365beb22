"""``latentops demo --text``: the text pipeline, then before/after sentences and its figures."""

from __future__ import annotations

import shlex
import time
from typing import Any

import pyarrow as pa
from rich.markup import escape

from latentops.cli._common import console, quiet_prefect, show_table
from latentops.models.text_decoder import NEAREST_K

# one row per direction: what the scorecard says about strength, preservation and fidelity
_FIGURES = (
    "SELECT direction, any_value(target) AS target, "
    "max(value) FILTER (metric = 'text.strength.item_spearman_median') AS item_spearman_median, "
    "max(value) FILTER (metric = 'text.strength.spearman') AS spearman, "
    "max(value) FILTER (metric = 'text.target.delta' AND strength = ?) AS target_delta_at_max, "
    "min(value) FILTER (metric = 'text.preservation.topic' AND abs(strength) <= 1.5) "
    "  AS topic_kept_min_abs_le_1_5, "
    "max(value) FILTER (metric = 'text.off_target.sentiment') AS sentiment_off_target_max, "
    "avg(value) FILTER (metric = 'text.fidelity.decode') AS fidelity_mean "
    "FROM scores WHERE run_id = ? GROUP BY direction ORDER BY direction"
)
_PER_STRENGTH = (
    "SELECT strength, "
    "max(value) FILTER (metric = 'text.target.mean') AS vader_mean, "
    "max(value) FILTER (metric = 'text.preservation.topic') AS topic_kept, "
    "max(value) FILTER (metric = 'text.preservation.semantic') AS cosine_to_source, "
    "max(value) FILTER (metric = 'text.fidelity.decode') AS decode_fidelity "
    "FROM scores WHERE run_id = ? AND direction = ? AND strength IS NOT NULL "
    "GROUP BY strength ORDER BY strength"
)


def run_text_demo(store: str | None, n_items: int, device: str | None) -> None:
    """Run the text pipeline and print what it produced."""
    from latentops.storage import Store

    started = time.perf_counter()
    Store.open(store)  # a bad --store answers before Prefect starts
    quiet_prefect()
    from latentops.flows.text_pipeline import text_pipeline_flow

    console.rule(
        "latentops demo, text: MiniLM → review latents → directions → retrieved edits → "
        "VADER / topic / cosine judges → report"
    )
    summary = text_pipeline_flow(store=store or None, n_items=n_items, device=device, progress=True)
    opened = Store.open(summary["store"])
    _show_sentences(opened, summary)
    _show_figures(opened, summary)
    elapsed = time.perf_counter() - started
    report = summary["report"]["path"] if summary["report"] else "not written"
    store_arg = shlex.quote(str(summary["store"]))
    console.print(
        f"\n[green]done in {elapsed:.0f} s[/green]: "
        + escape(f"model {summary['model']}, latent table {summary['table']}\n")
        + f"report: [bold]{escape(str(report))}[/bold]\n"
        + escape(
            "next:\n"
            f"  latentops evaluate --run {summary['evaluation']['run_id']} --store {store_arg}\n"
            f'  latentops sql --store {store_arg} "SELECT item_id, strength, text, fidelity '
            'FROM edits ORDER BY item_id, strength LIMIT 14"'
        ),
        soft_wrap=True,  # hints stay one line each, to copy as printed
    )


def _show_sentences(store: Any, summary: dict[str, Any]) -> None:
    """Each shown item's sentence, then the sentence its edit decodes to at each strength."""
    edits = store.sql(
        "SELECT e.direction, e.item_id, e.strength, e.text, e.fidelity, l.text AS source "
        f"FROM edits e JOIN latents.{summary['table']} l USING (item_id) "
        "WHERE e.kind = 'direction' ORDER BY e.direction, e.item_id, e.strength"
    ).to_pylist()
    seen: set[tuple[str, int]] = set()
    for row in edits:
        key = (row["direction"], row["item_id"])
        if key not in seen:
            seen.add(key)
            console.print(
                f"\n[bold]{escape(row['direction'])}[/bold] item {row['item_id']}: "
                f"{escape(row['source'])}",
                soft_wrap=True,  # one sentence per line, whatever the terminal width
            )
        console.print(
            f"  {row['strength']:+5.1f}  {escape(row['text'])}  [dim](fidelity "
            f"{row['fidelity']:.3f})[/dim]",
            soft_wrap=True,
        )


def _show_figures(store: Any, summary: dict[str, Any]) -> None:
    """The scorecards' headline figures per direction, and the sentiment edit per strength."""
    run = summary["evaluation"]["run_id"]
    top = max(summary["evaluation"]["strengths"])
    rows = store.sql(_FIGURES, [top, run])
    n = summary["evaluation"]["n_items"]
    show_table(rows, title=f"text scorecards ({n} held-out sentences, run {run[:8]})")
    sentiment = next(r for r in summary["directions"] if r.startswith("sentiment@"))
    per = store.sql(_PER_STRENGTH, [run, sentiment])
    show_table(
        pa.Table.from_pylist(per.to_pylist()),
        title=f"{sentiment} by strength (std units): VADER compound of the decoded sentences "
        f"(each edit: mean over its {NEAREST_K} nearest)",
    )
