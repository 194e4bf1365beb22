"""Report sections on directions: edit strips, dose-response, scorecards, entanglement, metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from latentops.directions import probe_flags, probe_scores
from latentops.directions.audit import audit_flags
from latentops.evaluation.verdict import verdict
from latentops.models import Autoencoder
from latentops.report import figures
from latentops.report._common import headline, short, tiles
from latentops.report.data import ReportData
from latentops.report.html import NOT_COMPUTED, Block, Figure, Group, Note, Section, Table, fmt
from latentops.report.images import direction_images
from latentops.report.options import ReportOptions

TARGET = "target.delta"
OFF = "off_target."
# what a strength of 1 means, by the unit a scorecard recorded (runs before units were recorded
# edited in raw latent units)
STRENGTH_AXIS = {
    "std": "edit strength (std of the data along the direction)",
    "raw": "edit strength (raw latent units)",
}


def catalog_table(data: ReportData) -> Table:
    """One row per direction (every one): method, label, held-out score, linear and k-NN probes
    beside each other (a curved code shows as a gap), any warning, its verdict, suggested name
    (unsupervised) and what it was fitted on."""
    rows = []
    for d in data.directions:
        label, value = headline(d["metrics"])
        linear, knn = probe_scores(d["metrics"])
        scored = (data.edit_scores or {}).get(d["ref"])
        names = d.get("audit", {}).get("names") or {}
        rows.append(
            (
                d["ref"],
                d["method"],
                d["label"] or "—",
                label,
                value,
                "—" if linear is None else fmt(linear),
                "—" if knn is None else fmt(knn),
                "; ".join(probe_flags(d["metrics"]) + audit_flags(d.get("audit", {}))) or "—",
                verdict(scored) if scored else "not scored",
                names.get("evidence", "—"),
                f"{d['latent_table']}@{d['latent_table_version']}",
            )
        )
    return Table(
        (
            "direction",
            "method",
            "label",
            "held-out metric",
            "value",
            "linear probe",
            "kNN probe",
            "note",
            "verdict",
            "suggested name",
            "fitted on",
        ),
        tuple(rows),
        caption="direction catalog (latest version per name)",
        key="directions",
    )


def _stored_strip(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[list[bytes | None]], list[str], list[str]]:
    """Edits-table thumbnails -> grid (items x strengths) of PNG bytes, row and column labels."""
    items = sorted({int(r["item_id"]) for r in rows})
    strengths = sorted({float(r["strength"]) for r in rows})
    cells = {(int(r["item_id"]), float(r["strength"])): r["png"] for r in rows}
    grid = [[cells.get((i, s)) for s in strengths] for i in items]
    return grid, [f"item {i}" for i in items], [fmt(s) for s in strengths]


def _sentence_strip(
    rows: Sequence[Mapping[str, Any]], sources: Mapping[int, str], ref: str
) -> Table:
    """Text edits: each item's sentence, then the sentence decoded at each strength."""
    items = sorted({int(r["item_id"]) for r in rows})
    strengths = sorted({float(r["strength"]) for r in rows})
    cells = {
        (int(r["item_id"]), float(r["strength"])): f"{r['text']} (fidelity {fmt(r['fidelity'])})"
        for r in rows
    }
    return Table(
        ("item", "before", *[f"after, strength {fmt(s)}" for s in strengths]),
        tuple(
            (i, sources.get(i, "—"), *[cells.get((i, s), "—") for s in strengths]) for i in items
        ),
        caption="before/after sentences: each edit decoded by retrieving the nearest other "
        "sentence of the table; fidelity = cosine of its re-embedding to the edited latent",
        key=f"sentences-{ref}",
    )


def _strip(
    data: ReportData, d: Mapping[str, Any], model: Autoencoder | None, opts: ReportOptions
) -> Block:
    stored = data.edit_strips.get(d["ref"])
    if stored and stored[0].get("text") is not None:
        return _sentence_strip(stored, data.source_texts, d["ref"])
    if stored:
        grid, rows, cols = _stored_strip(stored)
        caption = "thumbnails stored in the edits table; columns are edit strengths"
    elif model is not None and model.capabilities.decodes and len(data.sample_ids):
        z = data.sample_z[: opts.n_items]
        # the same strengths as ``latentops edit``: in std of the data along v when known
        offsets = np.asarray(opts.strengths) * (d.get("std") or 1.0)  # (S,)
        imgs = direction_images(model, z, d["vector"], offsets)  # (N, S, C, H, W)
        grid = [list(r) for r in imgs]
        rows = [f"item {i}" for i in data.sample_ids[: opts.n_items]]
        cols = [fmt(s) for s in opts.strengths]
        unit = "std of the data along the direction" if d.get("std") else "raw latent units"
        caption = (
            "decoded for this report from stored latents (no stored edits yet); columns: "
            f"strengths in {unit}"
        )
    else:
        return Note("no images: the model has no decoder or the table no rows", "missing")
    return tiles(
        grid, caption, row_labels=rows, col_labels=cols, alt=f"edit of {d['ref']}", size=44
    )


def _curves(rows: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for r in rows:
        m = r["metric"].removeprefix("text.")  # text scorecards plot the same way
        if r["strength"] is None or not (m == TARGET or (m.startswith(OFF) and m != OFF + "max")):
            continue
        s, v = curves.setdefault(m, ([], []))
        s.append(float(r["strength"]))
        v.append(float(r["value"]))
    return curves


MIN_SPAN = 1.0  # a dose-response axis spans at least one class step (or the whole probability)


def attribute_scales(
    scores: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, tuple[float, float]]:
    """One y range per judged target attribute over every direction's curves, at least
    MIN_SPAN wide: a 0.01 change never fills the axis, and directions compare at a glance."""
    spans: dict[str, list[float]] = {}
    for rows in scores.values():
        if not rows:
            continue
        values = [v for _, vs in _curves(rows).values() for v in vs]
        spans.setdefault(rows[0]["target"] or "target", []).extend(values)
    out = {}
    for attr, values in spans.items():
        lo, hi = min([0.0, *values]), max([0.0, *values])
        pad = max(MIN_SPAN - (hi - lo), 0.0) / 2 + 0.05 * (hi - lo)
        out[attr] = (lo - pad, hi + pad)
    return out


def _scorecard(
    ref: str, rows: Sequence[Mapping[str, Any]], ylim: tuple[float, float] | None = None
) -> list[Block]:
    """Dose-response plot, per-strength and summary tables of one direction's latest run."""
    first = rows[0]
    target = first["target"] or "target"
    curves = _curves(rows)
    blocks: list[Block] = []
    if TARGET in curves:
        named = {(f"{TARGET} ({target})" if k == TARGET else k): v for k, v in curves.items()}
        png = figures.dose_response_plot(
            named,
            f"{TARGET} ({target})",
            title=f"dose-response of {ref}",
            xlabel=STRENGTH_AXIS[first.get("strength_unit") or "raw"],
            ylim=ylim,
        )
        blocks.append(
            Figure(
                png,
                f"dose-response {ref}",
                "target (bold) and off-target attributes judged on decoded edits vs strength; "
                f"one y scale for every direction judged on {target}",
            )
        )
    per = [
        r
        for r in rows
        if r["strength"] is not None
        and not (r["metric"].startswith(OFF) and r["metric"] != OFF + "max")
    ]
    strengths = sorted({float(r["strength"]) for r in per})
    table: dict[str, dict[float, float]] = {}
    for r in per:
        table.setdefault(r["metric"], {})[float(r["strength"])] = r["value"]
    blocks.append(
        Table(
            ("metric", *[fmt(s) for s in strengths]),
            tuple((m, *[v.get(s) for s in strengths]) for m, v in sorted(table.items())),
            caption="scorecard per strength",
            key=f"scorecard-{ref}",
        )
    )
    summary = tuple(
        (r["metric"], r["value"], r["estimator"]) for r in rows if r["strength"] is None
    )
    if summary:
        blocks.append(
            Table(
                ("metric", "value", "estimator"), summary, caption="summary", key=f"summary-{ref}"
            )
        )
    cell = {r["metric"]: r["value"] for r in rows if r["strength"] is None}
    if cell.get("semantics.weak") == 1.0:
        blocks.append(
            Note(
                "weak semantics: the latents encode the label (probe score high) but the edit "
                f"barely moves it (judged change {fmt(cell.get('semantics.judged_change'))}, "
                "median per-item Spearman "
                f"{fmt(cell.get('semantics.item_spearman_median'))})",
                "warning",
            )
        )
    blocks.append(
        Note(
            f"judge {first['judge']}"
            + (
                f" (held-out accuracy {fmt(first['judge_accuracy'])})"
                if first.get("judge_accuracy") is not None
                else ""
            )
            + f", target {target}, {first['n_items']} items, seed "
            f"{first['seed']}, run {short(first['run_id'])}; x axis: "
            + STRENGTH_AXIS[first.get("strength_unit") or "raw"]
        )
    )
    return blocks


def directions_section(data: ReportData, model: Autoencoder | None, opts: ReportOptions) -> Section:
    """The catalog table, then per direction: an edit strip, its dose-response and scorecard."""
    title = "Directions"
    if not data.directions:
        return Section(
            "directions",
            title,
            (
                Note(
                    f"no directions fitted in the space of {data.model['ref']} yet: {NOT_COMPUTED} "
                    "(run `latentops directions fit-all`)",
                    "missing",
                ),
            ),
        )
    blocks: list[Block] = [catalog_table(data)]
    scales = attribute_scales(data.edit_scores or {})
    later = [d["ref"] for d in data.directions[opts.max_directions :]]
    if later:
        blocks.append(
            Note(
                f"all {len(data.directions)} directions have a group below; edit strips are "
                f"drawn for the first {opts.max_directions} only (report option "
                f"max_directions), not for {', '.join(later)}",
            )
        )
    for i, d in enumerate(data.directions):
        if i < opts.max_directions:
            inner: list[Block] = [_strip(data, d, model, opts)]
        else:
            inner = [Note(f"edit strip: not drawn (beyond max_directions={opts.max_directions})")]
        scored = (data.edit_scores or {}).get(d["ref"])
        if scored:
            inner += _scorecard(d["ref"], scored, scales.get(scored[0]["target"] or "target"))
        else:
            inner.append(
                Note(
                    f"dose-response and scorecard: {NOT_COMPUTED} (run `latentops evaluate`)",
                    "missing",
                )
            )
        label, value = headline(d["metrics"])
        head = f"{d['ref']} · {d['method']}" + (f" · {d['label']}" if d["label"] else "")
        badge = f" · [{verdict(scored)}]" if scored else ""
        blocks.append(Group(f"{head} · {label} {fmt(value)}{badge}", tuple(inner), key=d["ref"]))
    return Section("directions", title, tuple(blocks))


def off_target_table(data: ReportData) -> tuple[np.ndarray, list[str], list[str], float] | None:
    """Directions x attributes: off-target change at each direction's largest strength."""
    scored = {ref: rows for ref, rows in (data.edit_scores or {}).items() if rows}
    if not scored:
        return None
    attrs = sorted(
        {
            r["metric"][len(OFF) :]
            for rows in scored.values()
            for r in rows
            if r["metric"].startswith(OFF) and r["metric"] != OFF + "max"
        }
    )
    refs = [d["ref"] for d in data.directions if d["ref"] in scored]
    if not attrs or not refs:
        return None
    m = np.full((len(refs), len(attrs)), np.nan)
    top = max(
        float(r["strength"]) for rows in scored.values() for r in rows if r["strength"] is not None
    )
    for i, ref in enumerate(refs):
        s_max = max(float(r["strength"]) for r in scored[ref] if r["strength"] is not None)
        for r in scored[ref]:
            if (
                r["strength"] is not None
                and float(r["strength"]) == s_max
                and r["metric"].startswith(OFF)
            ):
                name = r["metric"][len(OFF) :]
                if name in attrs:
                    m[i, attrs.index(name)] = r["value"]
    return m, refs, attrs, top


def entanglement_section(data: ReportData) -> Section:
    """Cosine similarity between directions and, with scores, the off-target matrix."""
    title = "Direction entanglement"
    if data.cosine is None:
        return Section("entanglement", title, (Note(f"no directions: {NOT_COMPUTED}", "missing"),))
    refs = [d["ref"] for d in data.directions]
    blocks: list[Block] = [
        Figure(
            figures.heatmap(
                data.cosine,
                refs,
                refs,
                title="cosine between direction vectors",
                cbar_label="cosine",
                vmin=-1.0,
                vmax=1.0,
                cmap="RdBu_r",
            ),
            "cosine matrix",
            "list_cosine_similarity over the direction_vectors view",
        )
    ]
    off = off_target_table(data)
    if off is None:
        blocks.append(
            Note(
                f"off-target matrix: {NOT_COMPUTED} (needs scorecards: `latentops evaluate`)",
                "missing",
            )
        )
    else:
        m, rows, attrs, top = off
        blocks.append(
            Figure(
                figures.heatmap(
                    m,
                    rows,
                    attrs,
                    title="off-target change at the largest strength",
                    cbar_label="mean |Δ judged class|",
                ),
                "off-target matrix",
                f"off_target.<attribute> at each direction's largest strength (≤ {fmt(top)}); "
                "blank: the direction's own target",
            )
        )
    return Section("entanglement", title, tuple(blocks))


def disentanglement_section(data: ReportData) -> Section:
    """Latest stored value of each disentanglement metric of the table, with its protocol."""
    title = "Disentanglement metrics"
    if not data.disentanglement:
        return Section(
            "disentanglement",
            title,
            (
                Note(
                    f"disentanglement metrics: {NOT_COMPUTED} (run `latentops metrics`)", "missing"
                ),
            ),
        )
    # protocol_id hashes the metric name too; group rows by how they were computed instead
    setups: dict[tuple, str] = {}
    rows = []
    for r in data.disentanglement:
        setup = (r["estimator"], r["seed"], r["n_items"], r["table_version"], r["run_id"])
        label = setups.setdefault(setup, f"P{len(setups) + 1}")
        rows.append((r["metric"], r["value"], label, short(r["protocol_id"], 10)))
    protocols = tuple(
        (label, est, seed, n, v, short(run)) for (est, seed, n, v, run), label in setups.items()
    )
    return Section(
        "disentanglement",
        title,
        (
            Table(
                ("metric", "value", "setup", "protocol id"),
                tuple(rows),
                caption="scores table, kind disentanglement (latest per metric)",
                key="disentanglement",
            ),
            Table(
                ("setup", "estimator", "seed", "items", "table version", "run"),
                protocols,
                caption="how they were computed",
                key="disentanglement-setups",
            ),
        ),
    )
