"""Report tasks: query the store, decode images with the model, render HTML; write the file."""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from latentops.errors import InvalidInputError, LatentOpsError
from latentops.report import ReportData, ReportOptions, gather, render_report
from latentops.storage import Location, Store
from latentops.storage.models import trained_on
from latentops.storage.resources import load_model
from latentops.tasks._common import open_dataset

REPORT_FILE = "report.html"


def dataset_images(data: ReportData) -> dict[int, np.ndarray] | None:
    """Dataset images (C, H, W) of the items the page shows, when the dataset can be rebuilt.

    The dataset is re-created from the model card's training options and used only when
    its fingerprint equals the one stored on the latent table's rows (the same items).
    """
    ids = data.image_ids()
    if data.table is None or len(ids) == 0:
        return None
    try:
        dataset = open_dataset(*trained_on(data.model))
    except (LatentOpsError, TypeError):  # imported tables, or options this dataset refuses
        return None
    if dataset.fingerprint != data.dataset_fingerprint or len(dataset.x_shape) != 3:
        return None
    batch = next(dataset.batches(len(ids), ids))
    return dict(zip(batch.item_id.tolist(), batch.x.numpy(), strict=True))


@task(cache_policy=NO_CACHE)
def build_report(
    store_path: str,
    model: str | None = None,
    table: str | None = None,
    options: dict[str, Any] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Query the store, decode with the model, render; return the HTML and a summary."""
    store = Store.open(store_path, create=False)
    opts = ReportOptions.from_dict(options)
    data = gather(store, model, table, opts)
    net, _, _ = load_model(store, data.model["ref"], device)
    originals = dataset_images(data) if net.capabilities.decodes else None
    html = render_report(data, net, originals, opts)
    return {"html": html, **data.summary(), "dataset_images": originals is not None}


@task(cache_policy=NO_CACHE)
def write_report(html: str, out_dir: str) -> str:
    """Write ``html`` to ``out_dir/report.html`` atomically (readers never see half a page).

    ``out_dir`` is a local folder or an ``s3://`` prefix (a store's ``reports/`` folder).
    """
    if not html.startswith("<!DOCTYPE html>"):
        raise InvalidInputError(
            "write_report expects a full HTML page from latentops.report.render_report"
        )
    folder = Location.of(out_dir)
    if folder.is_file():
        raise InvalidInputError(
            f"--out {folder} is a file; pass a directory to write {REPORT_FILE} into"
        )
    target = folder / REPORT_FILE
    target.write_text(html)
    return str(target)
