"""The streaming edit scorecard: one direction's edits decoded and judged (pure, no IO).

``Scorecard.add`` edits a batch of items at every strength, decodes them (through the
``decode`` callable it is given, so this layer never loads a model), runs the judge
once per decoded image and keeps only small accumulators (responses (S, N), feature
moments, pixel-change sums), so images are never held for more than one batch.
``part()`` hands those accumulators over as a picklable :class:`Part`; parts of consecutive
item runs (chunks scored on different workers) merge with :func:`merge_parts`, and
:func:`finish_scorecard` turns them into {(metric, strength): (value, estimator, params)}.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from latentops.directions import parse_label
from latentops.errors import InvalidInputError, NotFoundError
from latentops.evaluation.edit_metrics import (
    WEAK_CHANGE_MAX,
    WEAK_PROBE_MIN,
    WEAK_SPEARMAN_MAX,
    calibrate_strength,
    dose_response,
    frechet_distance_from_stats,
    locality,
    off_target_matrix,
    path_length,
    prior_plausibility,
    weak_semantics,
)
from latentops.evaluation.predictors import AttributePredictor
from latentops.latent import direction_traversal, log_prior

Values = dict[tuple[str, float | None], tuple[float, str, dict[str, Any]]]
Codec = Callable[[torch.Tensor], torch.Tensor]  # latents (M, d) <-> images (M, C, H, W)


def check_judge(
    judge_card: dict[str, Any], model_card: dict[str, Any], x_shape: tuple[int, ...]
) -> None:
    """Refuse a judge trained on another dataset or image geometry than the model's outputs."""
    cfg = judge_card["config"]
    want = (cfg["in_channels"], cfg["image_size"], cfg["image_size"])
    if judge_card["dataset"] != model_card["dataset"] or tuple(x_shape) != want:
        raise InvalidInputError(
            f"judge {judge_card['ref']} scores {judge_card['dataset']} images of shape {want} "
            f"but {model_card['ref']} decodes {model_card['dataset']} images of shape "
            f"{tuple(x_shape)}; train a judge on that data (latentops judges train)"
        )


def judge_left_out(judge_card: dict[str, Any]) -> dict[str, str]:
    """The factors a judge has no head for, with the reason its card records (none for old
    judges, trained before the card said)."""
    return dict((judge_card.get("train") or {}).get("left_out") or {})


def resolve_target(
    target: str | None, label_spec: dict[str, Any] | None, judge_card: dict[str, Any], ref: str
) -> tuple[str, np.ndarray, str]:
    """(judged attribute, class weights (K,), expression): response = probs @ weights.

    A plain column ("pos_x") is judged by its expected class index; a comparison
    ("shape==2", "scale>3") by the judge's probability that it holds. A factor the judge
    was trained without (its card's ``left_out``) is refused with the card's reason.
    """
    sizes = judge_card["factors"]
    expr = target or (label_spec or {}).get("expr")
    if not expr:
        raise InvalidInputError(
            f"direction {ref} has no label to judge (unsupervised or manual); pass --target, "
            f"one of the judge's attributes {sorted(sizes)} or a comparison such as shape==2"
        )
    classes = {name: np.arange(k) for name, k in sizes.items()}
    left_out = judge_left_out(judge_card)
    try:
        weights, spec = parse_label(expr, classes)
    except NotFoundError:
        column = _column_of(expr, left_out)
        if column is not None:
            raise InvalidInputError(
                f"direction {ref} targets {expr!r}, but judge {judge_card['ref']} does not "
                f"predict {column}: {left_out[column]}; pass --target with one of {sorted(sizes)}"
            ) from None
        raise InvalidInputError(
            f"direction {ref} targets {expr!r}, which the judge cannot see: it predicts "
            f"{sorted(sizes)}; pass --target with one of those"
        ) from None
    return spec["column"], np.asarray(weights, np.float64), spec["expr"]


def _column_of(expr: str, left_out: dict[str, str]) -> str | None:
    """The left-out factor ``expr`` names, or None when it names none of them."""
    try:
        return parse_label(expr, {k: np.arange(2) for k in left_out})[1]["column"]
    except (NotFoundError, InvalidInputError):
        return None


@dataclass
class Part:
    """What a Scorecard accumulated over the items at positions [offset, offset + n)."""

    offset: int  # position of the first item in the whole selection
    n: int
    resp: np.ndarray  # (S, n) judge response of the edits
    resp_base: np.ndarray  # (n,) of the unedited decodes
    pred: dict[str, np.ndarray]  # (S, n) expected class index per attribute
    pred_base: dict[str, np.ndarray]  # (n,) each
    logp: np.ndarray  # (S, n) log N(z_edit; 0, I)
    moments: list[np.ndarray]  # feature sum (S+1, f), outer-product sum (S+1, f, f)
    sums: dict[str, Any]  # pixel / locality / cycle sums, see Scorecard.__init__
    ppl: np.ndarray | None  # (2, k, f) feature pairs of the path-length items, if any


def merge_parts(parts: Sequence[Part]) -> Part:
    """One Part from parts that tile consecutive item runs (given in any order)."""
    if not parts:
        raise InvalidInputError("no scorecard parts to merge; score at least one chunk of items")
    parts = sorted(parts, key=lambda p: p.offset)
    for a, b in zip(parts, parts[1:], strict=False):
        if b.offset != a.offset + a.n:
            raise InvalidInputError(
                f"scorecard parts must tile the item selection, but items "
                f"[{a.offset}, {a.offset + a.n}) are followed by a part at offset {b.offset}; "
                "pass every chunk of the selection exactly once"
            )
    ppl = [p.ppl for p in parts if p.ppl is not None]
    return Part(
        offset=parts[0].offset,
        n=sum(p.n for p in parts),
        resp=np.concatenate([p.resp for p in parts], 1),
        resp_base=np.concatenate([p.resp_base for p in parts]),
        pred={k: np.concatenate([p.pred[k] for p in parts], 1) for k in parts[0].pred},
        pred_base={k: np.concatenate([p.pred_base[k] for p in parts]) for k in parts[0].pred},
        logp=np.concatenate([p.logp for p in parts], 1),
        moments=[sum(p.moments[i] for p in parts) for i in range(2)],
        sums={k: sum(p.sums[k] for p in parts) for k in parts[0].sums},
        ppl=np.concatenate(ppl, 1) if ppl else None,
    )


class Judged:
    """A judge plus the attribute it watches: one forward pass gives features and predictions."""

    def __init__(self, judge: AttributePredictor, attr: str, weights: np.ndarray) -> None:
        self.judge, self.attr = judge, attr
        self.weights = torch.as_tensor(weights, dtype=torch.float32)  # (K,)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Features (M, f) float64, expected class index per attribute (M,), response (M,)."""
        h = self.judge.features(x)  # (M, f)
        expected, response = {}, None
        for name, head in self.judge.heads.items():
            p = head(h).softmax(dim=1)  # (M, K)
            expected[name] = (
                (p @ torch.arange(p.shape[1], device=p.device, dtype=p.dtype)).cpu().numpy()
            )
            if name == self.attr:
                response = (p @ self.weights.to(p.device)).cpu().numpy()
        return h.double().cpu().numpy(), expected, response


class Scorecard:
    """Streaming scorecard of one direction: feed item batches with ``add``, then ``finish``.

    ``offset`` is the position of this scorecard's first item in the whole selection, so a
    chunk scored on its own draws the same path-length strengths, for the same items, as
    one scorecard fed the whole selection in order. ``offsets`` (the direction's
    ``Direction.offsets``) turns strengths into latent distances, so a grid means what it
    means in ``latentops edit``; without it strengths are latent distances.
    """

    def __init__(
        self,
        judged: Judged,
        decode: Codec,
        encode: Codec,
        grid: np.ndarray,
        v: np.ndarray,
        *,
        ppl_items: int,
        ppl_eps: float,
        seed: int,
        offset: int = 0,
        offsets: Callable[[Any], np.ndarray] | None = None,
    ) -> None:
        self.judged, self.grid = judged, grid  # grid (S,) in the direction's strength units
        # strengths -> latent distances along v (Direction.offsets); None: raw latent units
        self.to_latent = offsets or (lambda s: np.asarray(s, np.float64))
        # decode: z (M, d) on any device -> float32 images on the model's device; encode back
        self.decode, self.encode = decode, encode
        self.u = torch.from_numpy(v / np.linalg.norm(v)).float()  # (d,)
        zero = np.flatnonzero(grid == 0.0)
        self.base = int(zero[0]) if len(zero) else None  # strength 0 doubles as the baseline
        self.ppl_eps, self.offset = ppl_eps, offset
        lo, hi = float(grid.min()), float(grid.max()) - ppl_eps
        # The first ppl_items items of the selection get one random strength each, drawn in
        # item order from the seed; a chunk reads its slice of the same draw.
        self.ppl_t = (
            np.random.default_rng(seed).uniform(lo, hi, size=ppl_items) if hi > lo else np.zeros(0)
        )  # (ppl_items,)
        self.resp: list[np.ndarray] = []  # (S, B) per batch
        self.resp_base: list[np.ndarray] = []  # (B,)
        self.pred: dict[str, list[np.ndarray]] = {}
        self.pred_base: dict[str, list[np.ndarray]] = {}
        self.logp: list[np.ndarray] = []  # (S, B)
        self.moments: list[np.ndarray] | None = None  # [sum (S+1, f), outer (S+1, f, f)]
        s = len(grid)
        self.sums = {
            "pix": np.zeros(s),
            "loc": np.zeros(s),
            "loc_n": np.zeros(s),
            "recon": 0.0,
            "on": np.zeros(s),
            "off": np.zeros(s),
            "cycle_n": 0,
        }
        self.ppl: list[np.ndarray] = []  # (2, n, f) feature pairs
        self.n = 0

    def add(self, z: np.ndarray, x_real: torch.Tensor) -> None:
        """Edit z (B, d) at every strength, decode, judge; accumulate (x_real (B, C, H, W))."""
        S, B = len(self.grid), z.shape[0]
        zt = torch.from_numpy(z)
        ze = direction_traversal(zt, self.u, self.to_latent(self.grid).tolist())  # (S, B, d)
        lat = ze.reshape(S * B, -1)
        if self.base is None:  # no strength 0 in the grid: decode the unedited latents too
            lat = torch.cat([lat, zt])
        x = self.decode(lat)  # (S*B [+B], C, H, W)
        b0 = (S if self.base is None else self.base) * B
        base = slice(b0, b0 + B)  # rows of the unedited decodes
        x_real = x_real.to(x.device)
        feats, expected, resp = self.judged(torch.cat([x, x_real]))  # one judge pass
        xs, xb = x[: S * B].view(S, B, *x.shape[1:]), x[base]  # (S, B, C, H, W), (B, C, H, W)
        self.resp.append(resp[: S * B].reshape(S, B))
        self.resp_base.append(resp[base])
        for name, e in expected.items():
            self.pred.setdefault(name, []).append(e[: S * B].reshape(S, B))
            self.pred_base.setdefault(name, []).append(e[base])
        self.logp.append(log_prior(ze).numpy())  # (S, B)
        f = np.concatenate([feats[: S * B].reshape(S, B, -1), feats[None, -B:]])  # (S+1, B, f)
        moments = [f.sum(1), np.einsum("sbf,sbg->sfg", f, f)]  # last row: the real images
        if self.moments is not None:
            moments = [a + b for a, b in zip(self.moments, moments, strict=True)]
        self.moments = moments
        delta = xs - xb[None]  # (S, B, C, H, W) change against the unedited decode
        pix = delta.square().mean((2, 3, 4)).cpu().numpy()  # (S, B)
        self.sums["pix"] += pix.sum(1)
        self.sums["recon"] += float((xb - x_real).square().mean((1, 2, 3)).sum())
        for s in np.flatnonzero(pix.max(1) > 0):  # strengths whose decodes changed at all
            self.sums["loc"][s] += locality(delta[s].cpu().numpy()) * B
            self.sums["loc_n"][s] += B
        self._ppl_and_cycle(zt, xs, xb)
        self.n += B

    def _ppl_and_cycle(self, z: torch.Tensor, xs: torch.Tensor, xb: torch.Tensor) -> None:
        """On the first ``ppl_items`` items: path length at random strengths, re-encode cycle."""
        first = self.offset + self.n  # selection position of this batch's first item
        k = max(0, min(len(self.ppl_t) - first, z.shape[0]))
        if k == 0:
            return
        t = self.ppl_t[first : first + k]  # (k,) strengths; the pair steps eps in strength too
        za, zb = (
            z[:k] + torch.from_numpy(self.to_latent(s)).float()[:, None] * self.u  # (k, d)
            for s in (t, t + self.ppl_eps)
        )
        x = self.decode(torch.cat([za, zb]))  # (2k, C, H, W)
        self.ppl.append(self.judged(x)[0].reshape(2, k, -1))
        S = len(self.grid)
        with torch.inference_mode():  # decode -> encode: where the edit lands in latent space
            images = torch.cat([xs[:, :k].reshape(S * k, *xs.shape[2:]), xb[:k]])
            zc = self.encode(images).float().cpu().view(S + 1, k, -1)  # (S+1, k, d)
        dz = zc[:S] - zc[S:]  # (S, k, d) re-encoded edit minus re-encoded unedited decode
        on = dz @ self.u  # (S, k) change along the direction
        self.sums["on"] += on.sum(1).numpy()
        off = torch.linalg.vector_norm(dz - on[..., None] * self.u, dim=-1)  # (S, k)
        self.sums["off"] += off.sum(1).numpy()
        self.sums["cycle_n"] += k

    def part(self) -> Part:
        """The accumulators so far, as a picklable Part (merge parts with merge_parts)."""
        if self.n == 0 or self.moments is None:
            raise InvalidInputError("the scorecard has no items yet; add at least one batch")
        return Part(
            offset=self.offset,
            n=self.n,
            resp=np.concatenate(self.resp, 1),
            resp_base=np.concatenate(self.resp_base),
            pred={k: np.concatenate(v, 1) for k, v in self.pred.items()},
            pred_base={k: np.concatenate(v) for k, v in self.pred_base.items()},
            logp=np.concatenate(self.logp, 1),
            moments=list(self.moments),
            sums={k: v.copy() if isinstance(v, np.ndarray) else v for k, v in self.sums.items()},
            ppl=np.concatenate(self.ppl, 1) if self.ppl else None,
        )

    def finish(
        self,
        logp_data: np.ndarray | None,
        calibrate: float | None,
        probe_score: float | None = None,
    ) -> tuple[Values, list[str]]:
        """{(metric, strength or None): (value, estimator, params)} and why any were left out."""
        return finish_scorecard(
            self.part(),
            self.grid,
            self.judged.attr,
            self.ppl_eps,
            logp_data,
            calibrate,
            probe_score,
            classes=self.judged.judge.config.factors,
        )


def finish_scorecard(
    part: Part,
    grid: np.ndarray,
    attr: str,
    ppl_eps: float,
    logp_data: np.ndarray | None,
    calibrate: float | None,
    probe_score: float | None = None,
    *,
    classes: Mapping[str, int] | None = None,
    paired: bool = True,
) -> tuple[Values, list[str]]:
    """Scores of a whole selection's Part (grid (S,), judged ``attr``, table log p (M,)).

    ``classes`` (the judge's classes per attribute) adds ``off_target_share.max``: off-target
    changes are in class steps, so a 32-step position outweighs a 3-way shape unless each
    is divided by its range (K - 1).

    ``probe_score`` (the direction's held-out probe score from its catalog card) adds the
    weak-semantics check: the label is encoded, but the edit barely moves what the judge sees.
    ``logp_data`` None: the model has no standard-normal prior, so prior.* are left out.
    ``paired`` False: the latents were not encoded from the real images of their item ids
    (samples of a prior), so there is no reconstruction to score.
    """
    n, out, skipped = part.n, {}, []
    if logp_data is None:
        skipped.append("prior.*: the model declares no standard-normal prior")

    def put(metric: str, strength: float | None, value: float, **params: Any) -> None:
        out[(metric, strength)] = (float(value), estimator(metric), params)

    resp = part.resp  # (S, N)
    delta = resp - part.resp_base[None]  # (S, N)
    off = off_target_matrix(part.pred_base, part.pred, attr)  # matrix (A, S)
    names = off["attributes"]  # the non-target attributes, rows of off["matrix"]
    logp = part.logp  # (S, N)
    mu = part.moments[0] / n  # (S+1, f); the last row is the real images
    cov = (part.moments[1] - n * np.einsum("sf,sg->sfg", mu, mu)) / max(n - 1, 1)
    sums = part.sums
    cyc = sums["cycle_n"]
    for i, s in enumerate(grid.tolist()):
        put("target.mean", s, resp[i].mean())
        put("target.delta", s, delta[i].mean())
        for a, name in enumerate(names):
            put(f"off_target.{name}", s, off["matrix"][a, i])
            put(f"leak.{name}", s, off["shift"][a, i])
        if names:
            put("off_target.max", s, off["matrix"][:, i].max())
            if classes is not None:
                share = [off["matrix"][a, i] / (classes[name] - 1) for a, name in enumerate(names)]
                top = int(np.argmax(share))
                put("off_target_share.max", s, share[top], attribute=names[top])
        put("preservation.pixel_mse", s, sums["pix"][i] / n)
        if cyc:
            put("preservation.latent_on_axis", s, sums["on"][i] / cyc, n_items=cyc)
            put("preservation.latent_off_axis", s, sums["off"][i] / cyc, n_items=cyc)
        if sums["loc_n"][i]:
            put("locality", s, sums["loc"][i] / sums["loc_n"][i])
        try:
            put("fidelity.frechet", s, frechet_distance_from_stats(mu[i], cov[i], mu[-1], cov[-1]))
        except InvalidInputError as exc:  # too few items for the feature covariance
            skipped.append(f"fidelity.frechet at {s}: {exc}")
        if logp_data is None:
            continue
        prior = prior_plausibility(logp[i], logp_data)
        put("prior.log_p_mean", s, logp[i].mean())
        put("prior.median_percentile", s, prior["median_percentile"], n_data=len(logp_data))
        put("prior.frac_below_data_p1", s, prior["frac_below_data_p1"], n_data=len(logp_data))
    if paired:
        put("fidelity.recon_mse", 0.0, sums["recon"] / n)
    else:
        skipped.append("fidelity.recon_mse: the latents were sampled, not encoded from images")
    dose = dose_response(grid, resp)
    put("strength.slope", None, dose["slope"])
    put("strength.spearman", None, dose["spearman"])
    put("strength.item_spearman", None, dose["item_spearman_mean"])
    put("linearity.r2", None, dose["r2"])
    if part.ppl is not None:
        ppl = path_length(part.ppl, ppl_eps)["path_length"]  # feature pairs (2, n_ppl, f)
        put("smoothness.ppl", None, ppl, eps=ppl_eps, n_items=int(part.ppl.shape[1]))
    else:
        skipped.append("smoothness.ppl: no items or a strength grid narrower than eps")
    if probe_score is None:
        skipped.append("semantics.weak: the direction has no probe score (unsupervised/manual)")
    else:
        weak = weak_semantics(probe_score, grid, resp)
        rule = {
            "probe_min": WEAK_PROBE_MIN,
            "change_max": WEAK_CHANGE_MAX,
            "item_spearman_max": WEAK_SPEARMAN_MAX,
        }
        put("semantics.weak", None, weak["weak_semantics"], probe_score=probe_score, **rule)
        put("semantics.judged_change", None, weak["judged_change"])
        put("semantics.item_spearman_median", None, weak["item_spearman_median"])
    if calibrate is not None:
        s_grid, r_grid = grid, resp
        if not (grid == 0.0).any():  # measure from the decoded unedited latents, not a guess
            s_grid = np.append(grid, 0.0)
            r_grid = np.vstack([resp, part.resp_base[None]])
        try:
            s_cal = calibrate_strength(s_grid, r_grid, calibrate)
            put("calibration.strength", None, s_cal, target_delta=calibrate)
        except InvalidInputError as exc:  # the grid cannot reach the requested change
            skipped.append(f"calibration.strength: {exc}")
    return out, skipped


# How each metric is computed; stored with every score next to the run's shared protocol.
ESTIMATORS = {
    "target.mean": "mean judge response over items",
    "target.delta": "mean change of the judge response vs the unedited decode",
    "off_target": "mean |change of expected class index| vs the unedited decode",
    "off_target.max": "max over non-target attributes of off_target",
    "off_target_share.max": "max over non-target attributes of off_target / (classes - 1), "
    "the change as a share of the attribute's range; params name the attribute",
    "leak": "|mean change of expected class index| vs the unedited decode (the systematic "
    "part of off_target)",
    "preservation.pixel_mse": "mean squared pixel change vs the unedited decode",
    "preservation.latent_on_axis": "re-encoded edit minus re-encoded unedited decode, on v",
    "preservation.latent_off_axis": "norm of re-encoded edit change orthogonal to v",
    "locality": "1 - normalised participation ratio of the squared pixel change",
    "fidelity.frechet": "Frechet distance of Gaussians on judge features: edits vs real images",
    "fidelity.recon_mse": "mean squared pixel error of the unedited decode vs the real image",
    "prior.log_p_mean": "mean log N(z_edit; 0, I)",
    "prior": "percentiles of log N(z_edit; 0, I) within the table's log p(z)",
    "strength": "least-squares slope / Spearman of the mean response over strengths",
    "strength.item_spearman": "mean over items of the per-item Spearman over strengths",
    "linearity.r2": "R2 of the least-squares line through the mean response",
    "smoothness.ppl": "mean |f(t+eps) - f(t)|^2 / eps^2 on judge features, t ~ U(grid), "
    "1st/99th percentiles trimmed",
    "calibration.strength": "isotonic fit of the mean response; smallest |s| reaching the change",
    "semantics.weak": "1 when the probe score >= probe_min but the judged change between the "
    "extreme strengths < change_max or the median per-item Spearman < item_spearman_max",
    "semantics.judged_change": "|mean response at the largest - at the smallest strength|",
    "semantics.item_spearman_median": "median over items of the per-item Spearman over strengths",
}


def estimator(metric: str) -> str:
    """The estimator description of ``metric``: its own entry or its family's (prefix)."""
    parts = metric.split(".")
    for k in range(len(parts), 0, -1):
        key = ".".join(parts[:k])
        if key in ESTIMATORS:
            return ESTIMATORS[key]
    raise InvalidInputError(f"metric {metric!r} has no estimator description")
