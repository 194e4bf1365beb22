"""Report plots with matplotlib's Agg canvas: query rows and arrays in, PNG bytes out.

No pyplot: every figure is a fresh ``matplotlib.figure.Figure`` rendered to memory, so
figures can be drawn from worker threads and nothing global is left behind. Image tiles
(traversals, strips) are not plots: they are PNG-encoded one by one (``images.tile_png``)
and laid out by the page as labelled HTML grids, which is crisp and needs no matplotlib.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure as MplFigure

from latentops.errors import InvalidInputError

DPI = 100
FONT = 8.5
_OFF = "#9aa5b1"


def _png(fig: MplFigure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.06, facecolor="white")
    return buf.getvalue()


def training_curves(history: Sequence[Mapping[str, float]]) -> bytes:
    """Loss and reconstruction (left), KL / regulariser (right) per epoch of a model card."""
    if not history:
        raise InvalidInputError("training history is empty; the model card has no epochs to plot")
    epochs = [int(h.get("epoch", i)) + 1 for i, h in enumerate(history)]
    fig = MplFigure(figsize=(6.4, 2.5))
    left, right = fig.subplots(1, 2)
    for ax, keys in ((left, ("loss", "recon")), (right, ("kl", "reg", "vq", "commit"))):
        drawn = False
        for key in keys:
            values = [h.get(key) for h in history]
            if all(v is not None for v in values):
                ax.plot(epochs, values, marker="o", ms=3.5, lw=1.6, label=key)
                drawn = True
        if not drawn:
            ax.text(
                0.5,
                0.5,
                "no such terms",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color=_OFF,
            )
        else:
            ax.legend(fontsize=FONT, frameon=False)
        ax.set_xlabel("epoch", fontsize=FONT)
        ax.tick_params(labelsize=FONT)
        ax.grid(alpha=0.3)
        ax.set_xticks(epochs if len(epochs) <= 12 else epochs[:: max(1, len(epochs) // 10)])
    left.set_ylabel("per-item loss", fontsize=FONT)
    fig.tight_layout()
    return _png(fig)


def bar_chart(
    labels: Sequence[str], values: Sequence[float], *, ylabel: str, title: str = ""
) -> bytes:
    """One bar per label (e.g. KL or std per latent dimension)."""
    fig = MplFigure(figsize=(max(3.2, 0.34 * len(labels) + 1.2), 2.3))
    ax = fig.subplots()
    ax.bar(range(len(values)), values, color="#2f6feb")
    ax.set_xticks(range(len(labels)), labels, fontsize=FONT)
    ax.set_ylabel(ylabel, fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=FONT + 1)
    fig.tight_layout()
    return _png(fig)


def dose_response_plot(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    target: str,
    *,
    title: str = "",
    xlabel: str = "edit strength",
    ylim: tuple[float, float] | None = None,
) -> bytes:
    """Metric value vs edit strength: the ``target`` curve bold, off-target curves thin;
    ``ylim`` fixes the value axis (one scale for every direction judged on one attribute)."""
    if target not in curves:
        raise InvalidInputError(f"target curve {target!r} is not among {sorted(curves)}")
    fig = MplFigure(figsize=(4.6, 2.9))
    ax = fig.subplots()
    ax.axhline(0.0, color="#c5ccd4", lw=0.8)
    ax.axvline(0.0, color="#c5ccd4", lw=0.8)
    for name, (s, v) in sorted(curves.items(), key=lambda kv: kv[0] == target):
        if name == target:
            ax.plot(s, v, marker="o", ms=4, lw=2.2, color="#d1495b", label=name, zorder=3)
        else:
            ax.plot(s, v, marker=".", ms=3, lw=1.0, ls="--", label=name)
    ax.set_xlabel(xlabel, fontsize=FONT)
    ax.set_ylabel("judged change vs unedited", fontsize=FONT)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.tick_params(labelsize=FONT)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT - 1, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        ax.set_title(title, fontsize=FONT + 1)
    fig.tight_layout()
    return _png(fig)


def heatmap(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    title: str,
    cbar_label: str,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "viridis",
) -> bytes:
    """An annotated matrix (NaN cells left blank): cosine or off-target matrices."""
    m = np.asarray(matrix, dtype=np.float64)  # (R, C)
    if m.shape != (len(row_labels), len(col_labels)):
        raise InvalidInputError(
            f"matrix has shape {m.shape} but there are {len(row_labels)} row and "
            f"{len(col_labels)} column labels"
        )
    longest = max((len(s) for s in col_labels), default=4)
    fig = MplFigure(figsize=(1.9 + 0.47 * m.shape[1], 0.9 + 0.36 * m.shape[0] + 0.055 * longest))
    ax = fig.subplots()
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(m.shape[1]), col_labels, rotation=40, ha="right", fontsize=FONT)
    ax.set_yticks(range(m.shape[0]), row_labels, fontsize=FONT)
    lo, hi = im.get_clim()
    if m.size <= 400:
        for (r, c), v in np.ndenumerate(m):
            if np.isfinite(v):
                dark = (v - lo) / (hi - lo + 1e-12)
                color = (
                    "white"
                    if (dark < 0.35 if cmap == "viridis" else abs(dark - 0.5) > 0.3)
                    else "black"
                )
                ax.text(
                    c, r, f"{v:.2f}", ha="center", va="center", fontsize=FONT - 1.5, color=color
                )
    bar = fig.colorbar(im, ax=ax, fraction=0.045, pad=0.02)
    bar.set_label(cbar_label, fontsize=FONT)
    bar.ax.tick_params(labelsize=FONT)
    ax.set_title(title, fontsize=FONT + 1)
    fig.tight_layout()
    return _png(fig)


def scatter_map(
    xy: np.ndarray, colour: np.ndarray, *, factor: str, xlabel: str, ylabel: str, title: str = ""
) -> bytes:
    """2-D map of latents (N, 2) coloured by a factor: legend for few classes, else a colour bar."""
    xy = np.asarray(xy, dtype=np.float64)  # (N, 2)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(colour) != len(xy):
        raise InvalidInputError(
            f"xy has shape {xy.shape} for {len(colour)} colours; expected (N, 2)"
        )
    fig = MplFigure(figsize=(5.6, 4.3))
    ax = fig.subplots()
    values = np.asarray(colour)
    classes = np.unique(values)
    size = 9 if len(xy) < 2000 else 4
    if values.dtype.kind in "iubUSO" and len(classes) <= 10:
        for i, cls in enumerate(classes):
            keep = values == cls
            ax.scatter(
                xy[keep, 0], xy[keep, 1], s=size, alpha=0.75, color=f"C{i}", label=str(cls), lw=0
            )
        ax.legend(
            title=factor,
            fontsize=FONT,
            title_fontsize=FONT,
            markerscale=2.2,
            frameon=False,
            loc="center left",
            bbox_to_anchor=(1.01, 0.5),
        )
    else:
        pts = ax.scatter(
            xy[:, 0], xy[:, 1], s=size, alpha=0.8, c=values.astype(np.float64), cmap="viridis", lw=0
        )
        bar = fig.colorbar(pts, ax=ax, fraction=0.05, pad=0.02)
        bar.set_label(factor, fontsize=FONT)
        bar.ax.tick_params(labelsize=FONT)
    ax.set_xlabel(xlabel, fontsize=FONT)
    ax.set_ylabel(ylabel, fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    if title:
        ax.set_title(title, fontsize=FONT + 1)
    fig.tight_layout()
    return _png(fig)
