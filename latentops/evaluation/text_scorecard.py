"""The text edit scorecard: edits of sentence latents, decoded by retrieval, scored by judges
that are not the encoder (pure, no IO).

Judges: VADER's compound score (a lexicon and rules, no learning) for sentiment; the corpus's
ground truth (topic, formality) of the retrieved sentence for preservation; the cosine between
the source sentence's and the retrieved sentence's embeddings for semantic preservation; and
the decode fidelity (re-embedded text vs the edited z). The target response and the sentiment
of an edit are the mean over its k nearest sentences when the decoder retrieves them: the
nearest sentence alone changes in one or two steps over a strength grid, so a per-item rank
correlation would score the steps, not the edit; preservation, semantic cosine and fidelity
judge the nearest sentence, the one stored and shown. Metric names carry a ``text.`` prefix:
they are other computations than the image scorecard's, and one name never means two.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from latentops.directions import parse_label
from latentops.errors import InvalidInputError, NotFoundError
from latentops.evaluation.edit_metrics import calibrate_strength, dose_response, item_spearman
from latentops.latent import direction_traversal
from latentops.models.text_decoder import TextDecoder, decode_with_fidelity

TEXT_JUDGE = "text"  # the judge name that selects these judges in ``latentops evaluate``
SENTIMENT_COLUMNS = ("polarity", "sentiment", "intensity")  # targets judged by VADER
PRESERVED = ("topic", "formality")  # ground-truth columns whose change counts as off-target

Values = dict[tuple[str, float | None], tuple[float, str, dict[str, Any]]]

ESTIMATORS = {
    "text.target.mean": "mean target response of the edits, each the mean over its k nearest "
    "sentences (VADER compound for sentiment labels, else the label expression on their ground "
    "truth)",
    "text.target.delta": "mean change of the target response (k nearest) vs the source sentence",
    "text.strength.slope": "least-squares slope of the mean target response over strengths",
    "text.strength.spearman": "Spearman of the mean target response over strengths",
    "text.strength.item_spearman_median": "median over items of the per-item Spearman of the "
    "target response over strengths",
    "text.linearity.r2": "R2 of the least-squares line through the mean target response",
    "text.off_target.sentiment": "mean |VADER compound (mean over the k nearest sentences) - "
    "of the source sentence|",
    "text.sentiment.mean": "mean VADER compound of the edits, each over its k nearest sentences",
    "text.preservation": "share of items whose nearest retrieved sentence keeps the source's "
    "ground truth",
    "text.preservation.semantic": "mean cosine of the nearest retrieved sentence's embedding to "
    "the source sentence's",
    "text.fidelity.decode": "mean cosine of the re-embedded decoded sentence to the edited z",
    "text.calibration.strength": "isotonic fit of the mean target response; smallest |s| "
    "reaching the change",
}


class VaderJudge:
    """VADER compound sentiment in [-1, 1] of texts; each distinct text is scored once."""

    def __init__(self) -> None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError:
            raise NotFoundError(
                "the text judges need the vadersentiment package; install the text extra: "
                "pip install -e '.[text]'"
            ) from None
        self.analyzer = SentimentIntensityAnalyzer()
        # recorded with every score: another lexicon release may score the same text otherwise
        self.version = f"vaderSentiment=={importlib.metadata.version('vaderSentiment')}"
        self._seen: dict[str, float] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """(M,) compound scores."""
        for t in set(texts) - set(self._seen):
            self._seen[t] = self.analyzer.polarity_scores(t)["compound"]
        return np.array([self._seen[t] for t in texts], np.float64)


def neighbourhood_mean(scores: np.ndarray) -> np.ndarray:
    """Mean over the last axis (..., k) of a judge's scores of each edit's k nearest sentences."""
    # sorted first: the same neighbours retrieved in another order give the very same float, so
    # an unchanged neighbourhood ties in the Spearman ranks instead of differing in the last bit
    return np.sort(np.asarray(scores, np.float64), axis=-1).mean(axis=-1)


@dataclass(frozen=True)
class Corpus:
    """The latent table a text decoder retrieves from: sorted ids, unit z, label columns."""

    ids: np.ndarray  # (R,) int64 sorted
    unit: torch.Tensor  # (R, d) unit-norm z
    columns: Mapping[str, np.ndarray]  # name -> (R,), "text" included

    def rows(self, item_id: np.ndarray) -> np.ndarray:
        """Row positions of ``item_id`` (any shape)."""
        return np.searchsorted(self.ids, item_id)


def _target(expr: str, columns: Mapping[str, np.ndarray]) -> str:
    """The column a target expression reads (raises naming the columns it could read)."""
    try:
        return parse_label(expr, columns)[1]["column"]
    except NotFoundError:
        raise InvalidInputError(
            f"target {expr!r} names no column of the text table; use one of {sorted(columns)}"
        ) from None


def _response(expr: str, column: str, values: np.ndarray, vader: VaderJudge, texts: list) -> Any:
    """Target response (M,): VADER for sentiment labels, else the label on the ground truth."""
    if column in SENTIMENT_COLUMNS:
        return vader(texts)
    y, _ = parse_label(expr, {column: values})
    if np.asarray(y).dtype.kind not in "biuf":
        raise InvalidInputError(
            f"target {expr!r} is not numeric; compare it, e.g. {column}=={values[0]!r}"
        )
    return np.asarray(y, np.float64)


def text_scorecard(
    decoder: TextDecoder,
    encode: Callable[[list[str]], torch.Tensor],
    vader: VaderJudge,
    corpus: Corpus,
    item_id: np.ndarray,
    v: np.ndarray,
    grid: np.ndarray,
    offsets: np.ndarray,
    target: str,
    calibrate: float | None = None,
) -> tuple[Values, list[str]]:
    """Edit ``item_id`` along v at each strength (latent ``offsets``), retrieve, judge, score."""
    S, N = len(grid), len(item_id)
    if N < 2:
        raise InvalidInputError(f"a text scorecard needs at least 2 items, got {N}")
    column = _target(target, corpus.columns)
    src = corpus.rows(item_id)  # (N,)
    u = torch.from_numpy(np.asarray(v, np.float32) / np.linalg.norm(v))  # (d,)
    z = corpus.unit[src]  # (N, d); text latents are unit-norm, as the table stores them
    ze = direction_traversal(z, u, np.asarray(offsets, np.float64).tolist())  # (S, N, d)
    out = decode_with_fidelity(decoder, encode, ze.reshape(S * N, -1), np.tile(item_id, S))
    got = corpus.rows(out.item_id).reshape(S, N)  # (S, N) retrieved rows
    # (S, N, k) rows of the k nearest; a decoder that generates text is judged on it alone
    near = (
        got[..., None] if out.neighbours is None else corpus.rows(out.neighbours).reshape(S, N, -1)
    )
    texts = corpus.columns["text"]
    src_texts = texts[src].tolist()
    near_texts = texts[near.ravel()].tolist()
    resp = _response(target, column, corpus.columns[column][near.ravel()], vader, near_texts)
    resp = neighbourhood_mean(resp.reshape(near.shape))  # (S, N)
    base = _response(target, column, corpus.columns[column][src], vader, src_texts)  # (N,)
    values: Values = {}
    skipped: list[str] = []

    def put(metric: str, strength: float | None, value: float, **params: Any) -> None:
        key = metric if metric in ESTIMATORS else metric.rsplit(".", 1)[0]
        values[(metric, strength)] = (float(value), ESTIMATORS[key], params)

    semantic = (corpus.unit[got] * z[None]).sum(-1).numpy()  # (S, N) cosine to the source
    fidelity = out.fidelity.reshape(S, N)
    sentiment = neighbourhood_mean(vader(near_texts).reshape(near.shape))  # (S, N)
    sentiment_src = vader(src_texts)
    for i, s in enumerate(grid.tolist()):
        put("text.target.mean", s, resp[i].mean())
        put("text.target.delta", s, (resp[i] - base).mean())
        put("text.preservation.semantic", s, semantic[i].mean())
        put("text.fidelity.decode", s, fidelity[i].mean())
        if column not in SENTIMENT_COLUMNS:  # a sentiment target already is the VADER mean
            put("text.sentiment.mean", s, sentiment[i].mean())
            put("text.off_target.sentiment", s, np.abs(sentiment[i] - sentiment_src).mean())
        for col in PRESERVED:
            if col in corpus.columns and col != column:
                same = corpus.columns[col][got[i]] == corpus.columns[col][src]
                put(f"text.preservation.{col}", s, same.mean())
    dose = dose_response(grid, resp)
    put("text.strength.slope", None, dose["slope"])
    put("text.strength.spearman", None, dose["spearman"])
    put("text.strength.item_spearman_median", None, np.median(item_spearman(grid, resp)))
    put("text.linearity.r2", None, dose["r2"])
    if calibrate is not None:
        try:
            s_cal = calibrate_strength(grid, resp, calibrate)
            put("text.calibration.strength", None, s_cal, target_delta=calibrate)
        except InvalidInputError as exc:  # the grid cannot reach the requested change
            skipped.append(f"text.calibration.strength: {exc}")
    return values, skipped


def unit_rows(z: np.ndarray) -> torch.Tensor:
    """z (R, d) as unit rows."""
    return F.normalize(torch.from_numpy(np.asarray(z, np.float32)), dim=1)
