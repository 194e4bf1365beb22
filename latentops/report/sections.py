"""Report sections about the model and its latent table: card, curves, images, map, neighbours."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from latentops._units import size
from latentops.models import Autoencoder
from latentops.report import figures
from latentops.report._common import item_images, no_decoder, short, tiles
from latentops.report.data import ReportData
from latentops.report.html import NOT_COMPUTED, Figure, Note, Section, Table, fmt
from latentops.report.images import decode, interpolation_images, project_2d, traversal_images
from latentops.report.options import ReportOptions


def model_section(data: ReportData) -> Section:
    """Model card (architecture, data, lineage, final metrics) and its training curves."""
    card = data.model
    train = card.get("train", {})
    cfg = train.get("config", {})
    final = card.get("metrics", {}).get("final", {})
    lineage = (
        ("model", card["ref"]),
        ("architecture", card["arch"]),
        ("latent dim", card["latent_dim"]),
        ("parameters", card["n_params"]),
        ("dataset", card["dataset"]),
        ("dataset fingerprint", short(card.get("dataset_fingerprint"))),
        ("weights sha256", short(card.get("sha256"))),
        ("created", card.get("created_at")),
        ("flow run", short(card.get("run_id"))),
        ("code version", card.get("code_version")),
    )
    final = tuple((f"final {k}", v) for k, v in sorted(final.items()) if k != "epoch")
    settings = tuple((k, str(v)) for k, v in sorted(card.get("config", {}).items()))
    settings += tuple((f"train.{k}", v) for k, v in sorted(cfg.items()) if v is not None)
    blocks: list = [
        Table(
            ("field", "value"),
            lineage + final,
            caption="model card and final metrics",
            key="model-card",
        ),
        Table(
            ("setting", "value"),
            settings,
            caption="architecture and training settings",
            key="model-config",
        ),
    ]
    history = card.get("metrics", {}).get("history") or []
    if history:
        blocks.append(
            Figure(
                figures.training_curves(history),
                alt="training curves",
                caption=f"per-epoch training loss of {card['ref']} (model card history)",
            )
        )
    else:
        blocks.append(Note("no training history in the model card (imported or untrained model)."))
    return Section("model", "Model card and training", tuple(blocks))


def latents_section(data: ReportData) -> Section:
    """The latent table: rows per split, Delta history, per-dimension activity."""
    missing = _needs_rows(data, 0)
    if missing:
        return Section("latents", "Latent table", (missing,))
    splits = tuple((r["split"], r["n"]) for r in data.split_counts) + (("total", data.n_rows),)
    hist = tuple(
        (h["version"], h["timestamp"], h["operation"], h["rows_added"], short(h["run_id"]))
        for h in data.table_history
    )
    blocks: list = [
        Table(("split", "rows"), splits, caption="rows per split", key="splits"),
        Table(
            ("version", "committed", "operation", "rows added", "flow run"),
            hist,
            caption="Delta history (newest first)",
            key="history",
        ),
    ]
    if data.storage:
        blocks.extend(_storage_blocks(data.storage))
    if data.dim_stats:
        has_kl = any(r["kl"] is not None for r in data.dim_stats)
        stats = tuple((r["dim"], r["mean"], r["std"], r["kl"]) for r in data.dim_stats)
        blocks.append(
            Table(
                ("dim", "mean z", "std z", "mean KL"),
                stats,
                caption="per-dimension statistics over the table",
                key="dims",
            )
        )
        values = [r["kl"] if has_kl else r["std"] for r in data.dim_stats]
        blocks.append(
            Figure(
                figures.bar_chart(
                    [str(r["dim"]) for r in data.dim_stats],
                    values,
                    ylabel="mean KL to N(0,1)" if has_kl else "std of z",
                    title="activity per latent dimension",
                ),
                alt="activity per dimension",
                caption="dims with ~0 KL / std are unused by the model",
            )
        )
    return Section("latents", "Latent table", tuple(blocks))


def _storage_blocks(used: dict) -> list:
    """What the table occupies, and which versions maintenance keeps because something uses them."""
    pins = used["pins"]
    blocks: list = [
        Table(
            ("data files", "data", "log", "versions", "pinned versions"),
            (
                (
                    used["files"],
                    size(used["bytes"]),
                    size(used["log_bytes"]),
                    used["versions"],
                    len(pins),
                ),
            ),
            caption="storage (latentops maintain compacts and vacuums; pinned versions stay whole)",
            key="storage",
        )
    ]
    if pins:
        rows = tuple(
            (p["version"], ", ".join(f"{n} {kind}" for kind, n in sorted(p["reasons"].items())))
            for p in pins
        )
        blocks.append(
            Table(
                ("version", "pinned by"),
                rows,
                caption="pinned versions: directions, scores, edits, alignments and tags use them",
                key="pins",
            )
        )
    return blocks


def reconstruction_section(
    data: ReportData,
    model: Autoencoder | None,
    originals: Mapping[int, np.ndarray] | None,
    opts: ReportOptions,
) -> Section:
    """Dataset images next to decodes of their stored latents."""
    title = "Reconstructions"
    missing = _needs_rows(data) or no_decoder(model, data.model)
    if missing:
        return Section("reconstructions", title, (missing,))
    ids = data.sample_ids[: opts.n_recon]
    recon = decode(model, data.sample_z[: opts.n_recon])  # (N, C, H, W)
    labels = [str(i) for i in ids]
    if originals is not None:
        grid, rows = [[originals[int(i)] for i in ids], list(recon)], ["data", "decoded"]
        caption = "item ids on top; dataset images above decodes of the latents stored for them"
    else:
        grid, rows = [list(recon)], ["decoded"]
        caption = (
            "decodes of the stored latents (the dataset could not be re-created to show originals)"
        )
    block = tiles(grid, caption, row_labels=rows, col_labels=labels, alt="reconstruction")
    return Section("reconstructions", title, (block,))


def traversal_section(data: ReportData, model: Autoencoder | None, opts: ReportOptions) -> Section:
    """One grid per latent dimension (most active first): items x values of that coordinate."""
    title = "Latent traversals"
    missing = _needs_rows(data) or no_decoder(model, data.model)
    if missing:
        return Section("traversals", title, (missing,))
    key = "kl" if any(r["kl"] is not None for r in data.dim_stats) else "std"
    order = sorted(data.dim_stats, key=lambda r: -(r[key] or 0.0))[: opts.max_dims]
    z, ids = data.sample_z[: opts.n_items], data.sample_ids[: opts.n_items]
    blocks = []
    for r in order:
        imgs = traversal_images(model, z, r["dim"], opts.traversal_values)  # (N, V, C, H, W)
        blocks.append(
            tiles(
                [list(row) for row in imgs],
                row_labels=[f"item {i}" for i in ids],
                col_labels=[fmt(v) for v in opts.traversal_values],
                title=f"dim {r['dim']} · {'KL' if key == 'kl' else 'std'} {fmt(r[key])}",
                alt=f"traversal of dim {r['dim']}",
                size=48,
            )
        )
    intro = (
        f"each grid sets one latent coordinate to the column value for every row's item; "
        f"dims ordered by {'mean KL' if key == 'kl' else 'std'} (most used first)"
    )
    return Section("traversals", title, tuple(blocks), intro=intro)


def interpolation_section(
    data: ReportData, model: Autoencoder | None, opts: ReportOptions
) -> Section:
    """lerp and slerp between the same item pairs, one above the other."""
    title = "Interpolation: lerp vs slerp"
    missing = _needs_rows(data, 2) or no_decoder(model, data.model)
    if missing:
        return Section("interpolation", title, (missing,))
    n = min(opts.n_pairs, len(data.sample_ids) // 2)
    a, b = data.sample_z[0 : 2 * n : 2], data.sample_z[1 : 2 * n : 2]  # (P, d) each
    ia, ib = data.sample_ids[0 : 2 * n : 2], data.sample_ids[1 : 2 * n : 2]
    paths = {m: interpolation_images(model, a, b, opts.steps, m) for m in ("lerp", "slerp")}
    grid, labels = [], []
    for p in range(n):
        for m in ("lerp", "slerp"):
            grid.append(list(paths[m][p]))
            labels.append(f"{ia[p]}→{ib[p]} {m}")
    ts = [f"t={t:.2f}" for t in np.linspace(0.0, 1.0, opts.steps)]
    caption = (
        "slerp follows the great circle and keeps |z| near the endpoints' norm; lerp cuts "
        "through the lower-norm interior, where a VAE prior puts little mass"
    )
    block = tiles(grid, caption, row_labels=labels, col_labels=ts, alt="interpolation")
    return Section("interpolation", title, (block,))


def map_section(data: ReportData, opts: ReportOptions) -> Section:
    """2-D map of a sample of the table (UMAP if installed, else PCA), coloured by a factor."""
    title = "Latent map"
    missing = _needs_rows(data, 3)
    if missing:
        return Section("map", title, (missing,))
    xy, method = project_2d(data.map_z, opts.projection)
    colour = data.map_colour if data.color_by else np.zeros(len(xy), np.int64)
    png = figures.scatter_map(
        xy,
        colour,
        factor=data.color_by or "(no factor)",
        xlabel=f"{method} 1",
        ylabel=f"{method} 2",
        title=f"{len(xy)} latents of {data.table} by {data.color_by or '—'}",
    )
    caption = (
        f"{method} of a deterministic sample (hash of item_id), coloured by "
        f"{data.color_by or 'nothing (no factor columns)'}; pick another with --color-by"
    )
    return Section("map", title, (Figure(png, "latent map", caption),))


def neighbour_section(
    data: ReportData, model: Autoencoder | None, originals: Mapping[int, np.ndarray] | None
) -> Section:
    """Each query item with its k nearest neighbours (cosine distance from Store.knn)."""
    title = "Nearest neighbours"
    if not data.neighbours:
        return Section(
            "neighbours", title, (_needs_rows(data, 2) or Note("too few rows for neighbours"),)
        )
    by_query: dict[int, list[dict]] = {}
    for r in data.neighbours:
        by_query.setdefault(int(r["query"]), []).append(r)
    table = Table(
        ("query", "rank", "item_id", "cosine distance"),
        tuple((r["query"], r["rank"], r["item_id"], r["distance"]) for r in data.neighbours),
        caption="Store.knn (exact, cosine)",
        key="neighbours",
    )
    if no_decoder(model, data.model):
        return Section("neighbours", title, (table,))
    grid, cells, source = [], [], ""
    for q, hits in by_query.items():
        ids = [q] + [int(h["item_id"]) for h in hits]
        imgs, source = item_images(model, ids, data.neighbour_z, originals)
        grid.append(imgs)
        cells.append([f"item {q}"] + [f"d={float(h['distance']):.2g}" for h in hits])
    k = max(len(h) for h in by_query.values())
    block = tiles(
        grid,
        f"{source}; d = cosine distance of z",
        cell_labels=cells,
        alt="neighbour",
        col_labels=["query"] + [f"#{i}" for i in range(1, k + 1)],
    )
    return Section("neighbours", title, (block, table))


def edits_section(data: ReportData) -> Section:
    """What the edits table holds for this model, per edit kind."""
    title = "Stored edits"
    if data.edits_summary is None:
        return Section(
            "edits", title, (Note(f"edits: {NOT_COMPUTED} (run `latentops edit`)", "missing"),)
        )
    if not data.edits_summary:
        return Section(
            "edits",
            title,
            (Note(f"no edits of {data.model['ref']} yet: {NOT_COMPUTED}", "missing"),),
        )
    rows = tuple(
        (r["kind"], r["edits"], r["items"], r["directions"], r["thumbnails"], r["last_written"])
        for r in data.edits_summary
    )
    cols = ("kind", "edits", "items", "directions", "thumbnails", "last written")
    return Section(
        "edits", title, (Table(cols, rows, caption="edits table, by kind", key="edits"),)
    )


def _needs_rows(data: ReportData, n: int = 1) -> Note | None:
    if data.table is None:
        ref = data.model["ref"]
        return Note(
            f"{NOT_COMPUTED}: no latent table holds latents of {ref} "
            f"(run `latentops encode --model {ref}`)",
            "missing",
        )
    if data.n_rows < n:
        return Note(
            f"latent table {data.table} has {data.n_rows} rows; this needs at least {n}", "missing"
        )
    return None
