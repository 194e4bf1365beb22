"""The text pipeline (``latentops demo --text``): MiniLM latents of the reviews corpus ->
sentiment / topic / formality directions -> retrieval-decoded edits -> text scorecards -> report.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from latentops.evaluation import TEXT_JUDGE
from latentops.flows.directions import fit_directions_flow
from latentops.flows.edit import edit_flow
from latentops.flows.encode import encode_flow
from latentops.flows.evaluate import evaluate_flow
from latentops.flows.report import report_flow
from latentops.storage import Store

TEXT_GRID = [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
HELD_OUT = "split = 'test'"  # directions are fitted on every row; edits only touch test items
TEXT_DIRECTIONS = [
    {"name": "sentiment", "method": "logistic", "label": "polarity"},
    {"name": "topic_books", "method": "logistic", "label": "topic==books"},
    {"name": "formal", "method": "logistic", "label": "formality==formal"},
]


@flow(name="text-pipeline")
def text_pipeline_flow(
    store: str | None = None,
    *,
    n_items: int = 2000,
    eval_items: int = 200,
    shown_items: int = 4,
    strengths: list[float] | None = None,
    report: bool = True,
    device: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run every text stage on ``n_items`` review sentences and return what each produced."""
    root = str(Store.open(store).root)
    grid = list(TEXT_GRID if strengths is None else strengths)

    # Latents of a pretrained encoder (registered in the store on first use)
    encoded = encode_flow(
        dataset="reviews",
        model="minilm",
        store=root,
        dataset_options={"n_items": n_items},
        batch_size=64,
        device=device,
        progress=progress,
    )
    table = encoded["table"]

    # Directions, then edits decoded to sentences and judged by models that are not MiniLM
    refs = fit_directions_flow(table, TEXT_DIRECTIONS, store=root)
    edit_flow(
        table, refs[:2], strengths=grid, where=HELD_OUT, sample=shown_items, store=root,
        device=device,
    )  # fmt: skip
    evaluation = evaluate_flow(
        table, refs, TEXT_JUDGE, strengths=grid, where=HELD_OUT, sample=eval_items, store=root,
        calibrate=0.5, device=device,
    )  # fmt: skip
    written = report_flow(store=root, model=encoded["model"], table=table) if report else None
    return {
        "store": root,
        "model": encoded["model"],
        "table": table,
        "encoded": encoded,
        "directions": refs,
        "evaluation": evaluation,
        "report": written,
    }
