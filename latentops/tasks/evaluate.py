"""Evaluation tasks: train a judge, score a direction's edits with it, score disentanglement.

A scorecard task edits every selected item at every strength, decodes in batches on the
best device, runs the judge once per decoded image and accumulates everything on the fly
(predictions (S, N), feature moments, pixel changes), so items are never held as images.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from latentops.data import Dataset
from latentops.directions import parse_label
from latentops.errors import InvalidInputError, NotFoundError
from latentops.evaluation import (
    AttributePredictor,
    PredictorConfig,
    beta_vae_score,
    calibrate_strength,
    dci,
    dose_response,
    evaluate_predictor,
    factor_vae_score,
    frechet_distance_from_stats,
    locality,
    mig,
    off_target_matrix,
    path_length,
    prior_plausibility,
    sap,
    split_scores,
    train_predictor,
)
from latentops.latent import direction_traversal, log_prior
from latentops.models import Autoencoder, pick_device
from latentops.models.device import autocast
from latentops.storage import Store
from latentops.storage.judges import JudgeRegistry
from latentops.storage.latents import assign_split, factor_columns
from latentops.storage.scores import Protocol, Score, ScoreSource, ScoresTable, build_score_rows
from latentops.tasks._common import current_run_id, open_dataset
from latentops.tasks.edit import RETRY, decoder_for, pin_snapshot, rows_of, select_items

METRICS = {
    "mig": mig,
    "sap": sap,
    "dci": dci,
    "beta_vae": beta_vae_score,
    "factor_vae": factor_vae_score,
}
_NAMED = ("mig", "sap")  # metrics that take factor_names for per-factor scores
_CACHE_FLOATS = 1 << 26  # render a training set once when it fits in 256 MB of float32


def _labelled(data: Dataset, ids: np.ndarray, batch_size: int, names: list[str]) -> Iterator[Any]:
    for b in data.batches(batch_size, ids):
        yield b.x, {k: torch.from_numpy(b.factors[k]) for k in names}


@task(cache_policy=NO_CACHE)
def train_judge(
    store_path: str,
    name: str,
    dataset: str,
    dataset_options: dict[str, Any],
    epochs: int = 4,
    batch_size: int = 128,
    lr: float = 3e-3,
    width: int = 16,
    feature_dim: int = 64,
    seed: int = 0,
    device: str | None = None,
) -> str:
    """Train an attribute predictor on the dataset's pixels and factors; register it."""
    store = Store.open(store_path)
    data = open_dataset(dataset, dataset_options)
    sizes = {k: v for k, v in data.factor_sizes.items() if v >= 2}
    if not sizes or len(data.x_shape) != 3:
        raise InvalidInputError(
            f"dataset {dataset!r} has no image pixels or no discrete factors with >= 2 values "
            f"(x_shape {data.x_shape}, factors {data.factor_sizes}); judges need both"
        )
    ids = data.item_ids()
    split = assign_split(ids)  # the latent tables' split: judges never see "test" items
    train_ids, test_ids = ids[split == "train"], ids[split == "test"]
    names = sorted(sizes)
    config = PredictorConfig(
        in_channels=data.x_shape[0],
        image_size=data.x_shape[-1],
        factor_sizes=sizes,
        width=width,
        feature_dim=feature_dim,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # reproducible initial weights
        judge = AttributePredictor(config)
    cached = len(train_ids) * int(np.prod(data.x_shape)) <= _CACHE_FLOATS
    if cached:
        x_all = torch.cat([x for x, _ in _labelled(data, train_ids, 4096, [])])  # (N, C, H, W)
        y_all = {k: torch.from_numpy(v) for k, v in data.factors(train_ids).items() if k in sizes}

    def batches(epoch: int) -> Iterator[Any]:
        order = np.random.default_rng(seed + epoch).permutation(len(train_ids))
        if not cached:
            yield from _labelled(data, train_ids[order], batch_size, names)
            return
        for s in range(0, len(order), batch_size):
            i = torch.from_numpy(order[s : s + batch_size])
            yield x_all[i], {k: y[i] for k, y in y_all.items()}

    dev = pick_device(device)
    result = train_predictor(judge, batches, epochs=epochs, lr=lr, seed=seed, device=dev)
    held_out = evaluate_predictor(judge, _labelled(data, test_ids, 1024, names), device=dev)
    get_run_logger().info("judge %s held-out accuracy: %s", name, held_out)
    ref = JudgeRegistry(store.root).register(
        name,
        judge.cpu(),
        dataset=data.name,
        dataset_fingerprint=data.fingerprint,
        dataset_options=dataset_options,
        train={
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "n_train": int(len(train_ids)),
            "history": result["history"],
        },
        metrics={
            "held_out_accuracy": held_out,
            "train_accuracy": result["accuracy"],
            "n_test": int(len(test_ids)),
        },
        run_id=current_run_id(),
    )
    return str(ref)


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


def resolve_target(
    target: str | None, label_spec: dict[str, Any] | None, sizes: dict[str, int], ref: str
) -> tuple[str, np.ndarray, str]:
    """(judged attribute, class weights (K,), expression): response = probs @ weights.

    A plain column ("pos_x") is judged by its expected class index; a comparison
    ("shape==2", "scale>3") by the judge's probability that it holds.
    """
    expr = target or (label_spec or {}).get("expr")
    if not expr:
        raise InvalidInputError(
            f"direction {ref} has no label to judge (unsupervised or manual); pass --target, "
            f"one of the judge's attributes {sorted(sizes)} or a comparison such as shape==2"
        )
    classes = {name: np.arange(k) for name, k in sizes.items()}
    try:
        weights, spec = parse_label(expr, classes)
    except NotFoundError:
        raise InvalidInputError(
            f"direction {ref} targets {expr!r}, which the judge cannot see: it predicts "
            f"{sorted(sizes)}; pass --target with one of those"
        ) from None
    return spec["column"], np.asarray(weights, np.float64), spec["expr"]


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
    """Streaming scorecard of one direction: feed item batches with ``add``, then ``finish``."""

    def __init__(
        self,
        judged: Judged,
        net: Autoencoder,
        dev: torch.device,
        grid: np.ndarray,
        v: np.ndarray,
        *,
        ppl_items: int,
        ppl_eps: float,
        seed: int,
    ) -> None:
        self.judged, self.net, self.dev, self.grid = judged, net, dev, grid  # grid (S,)
        self.u = torch.from_numpy(v / np.linalg.norm(v)).float()  # (d,)
        zero = np.flatnonzero(grid == 0.0)
        self.base = int(zero[0]) if len(zero) else None  # strength 0 doubles as the baseline
        self.ppl_left, self.ppl_eps = ppl_items, ppl_eps
        self.rng = np.random.default_rng(seed)
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

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), autocast(self.dev):
            return self.net.decode(z.to(self.dev)).float()  # (M, C, H, W)

    def add(self, z: np.ndarray, x_real: torch.Tensor) -> None:
        """Edit z (B, d) at every strength, decode, judge; accumulate (x_real (B, C, H, W))."""
        S, B = len(self.grid), z.shape[0]
        zt = torch.from_numpy(z)
        ze = direction_traversal(zt, self.u, self.grid)  # (S, B, d)
        lat = (
            ze.reshape(S * B, -1)
            if self.base is not None
            else torch.cat([ze.reshape(S * B, -1), zt])
        )
        x = self._decode(lat)  # (S*B [+B], C, H, W)
        feats, expected, resp = self.judged(torch.cat([x, x_real.to(self.dev)]))
        xs = x[: S * B].view(S, B, *x.shape[1:])  # (S, B, C, H, W)
        xb = xs[self.base] if self.base is not None else x[S * B :]  # (B, C, H, W)
        base_rows = (
            slice(self.base * B, (self.base + 1) * B)
            if self.base is not None
            else slice(S * B, S * B + B)
        )
        self.resp.append(resp[: S * B].reshape(S, B))
        self.resp_base.append(resp[base_rows])
        for name, e in expected.items():
            self.pred.setdefault(name, []).append(e[: S * B].reshape(S, B))
            self.pred_base.setdefault(name, []).append(e[base_rows])
        self.logp.append(log_prior(ze).numpy())  # (S, B)
        f = np.concatenate([feats[: S * B].reshape(S, B, -1), feats[None, -B:]])  # (S+1, B, f)
        moments = [f.sum(1), np.einsum("sbf,sbg->sfg", f, f)]
        self.moments = (
            moments
            if self.moments is None
            else [a + b for a, b in zip(self.moments, moments, strict=True)]
        )
        delta = xs - xb[None]  # (S, B, C, H, W) change against the unedited decode
        self.sums["pix"] += delta.square().mean((2, 3, 4)).sum(1).cpu().numpy()
        self.sums["recon"] += float((xb - x_real.to(self.dev)).square().mean((1, 2, 3)).sum())
        for s in range(S):
            if bool(delta[s].any()):
                self.sums["loc"][s] += locality(delta[s].cpu().numpy()) * B
                self.sums["loc_n"][s] += B
        self._ppl_and_cycle(zt, xs)
        self.n += B

    def _ppl_and_cycle(self, z: torch.Tensor, xs: torch.Tensor) -> None:
        """On the first ``ppl_items`` items: path length at random strengths, re-encode cycle."""
        k = min(self.ppl_left, z.shape[0])
        lo, hi = float(self.grid.min()), float(self.grid.max()) - self.ppl_eps
        if k == 0 or hi <= lo:
            return
        self.ppl_left -= k
        t = torch.from_numpy(self.rng.uniform(lo, hi, size=k)).float()[:, None]  # (k, 1)
        za = z[:k] + t * self.u  # (k, d)
        x = self._decode(torch.cat([za, za + self.ppl_eps * self.u]))  # (2k, C, H, W)
        self.ppl.append(self.judged(x)[0].reshape(2, k, -1))
        with torch.inference_mode():
            zc = self.net.encode(xs[:, :k].reshape(-1, *xs.shape[2:])).float().cpu()  # (S*k, d)
        zc = zc.view(len(self.grid), k, -1)  # (S, k, d)
        dz = (
            zc
            - (
                zc[self.base]
                if self.base is not None
                else self.net.encode(self._decode(z[:k])).float().cpu()
            )[None]
        )
        on = dz @ self.u  # (S, k) change along the direction after decode -> encode
        self.sums["on"] += on.sum(1).numpy()
        self.sums["off"] += (
            torch.linalg.vector_norm(dz - on[..., None] * self.u, dim=-1).sum(1).numpy()
        )
        self.sums["cycle_n"] += k

    def finish(self, logp_data: np.ndarray, calibrate: float | None) -> tuple[dict, list[str]]:
        """{(metric, strength or None): (value, estimator, params)} and why any were left out."""
        grid, n, out, skipped = self.grid, self.n, {}, []
        resp, resp_base = (
            np.concatenate(self.resp, 1),
            np.concatenate(self.resp_base),
        )  # (S, N), (N,)
        pred = {k: np.concatenate(v, 1) for k, v in self.pred.items()}  # (S, N) each
        before = {k: np.concatenate(v) for k, v in self.pred_base.items()}  # (N,) each
        logp = np.concatenate(self.logp, 1)  # (S, N)
        off = off_target_matrix(before, pred, self.judged.attr)
        dose = dose_response(grid, resp)
        mean, outer = self.moments
        mu = mean / n  # (S+1, f)
        cov = (outer - n * np.einsum("sf,sg->sfg", mu, mu)) / max(n - 1, 1)  # (S+1, f, f)
        for i, s in enumerate(grid.tolist()):
            out[("target.mean", s)] = (float(resp[i].mean()), "judge-response-mean", {})
            out[("target.delta", s)] = (
                float((resp[i] - resp_base).mean()),
                "judge-response-change-vs-decoded-z",
                {},
            )
            for a, name in enumerate(off["attributes"]):
                out[(f"off_target.{name}", s)] = (
                    float(off["matrix"][a, i]),
                    "mean-abs-expected-class-change-vs-decoded-z",
                    {},
                )
            if off["attributes"]:
                out[("off_target.max", s)] = (
                    float(off["matrix"][:, i].max()),
                    "max-over-attributes-mean-abs-change",
                    {},
                )
            out[("preservation.pixel_mse", s)] = (
                self.sums["pix"][i] / n,
                "mean-sq-pixel-change-vs-decoded-z",
                {},
            )
            if self.sums["cycle_n"]:
                cyc = {"n_items": self.sums["cycle_n"]}
                out[("preservation.latent_on_axis", s)] = (
                    self.sums["on"][i] / cyc["n_items"],
                    "re-encode-edit-minus-re-encoded-base-along-direction",
                    cyc,
                )
                out[("preservation.latent_off_axis", s)] = (
                    self.sums["off"][i] / cyc["n_items"],
                    "re-encode-edit-minus-re-encoded-base-orthogonal-norm",
                    cyc,
                )
            if self.sums["loc_n"][i]:
                out[("locality", s)] = (
                    self.sums["loc"][i] / self.sums["loc_n"][i],
                    "1-normalised-participation-ratio-sq-pixel-change",
                    {},
                )
            try:
                fd = frechet_distance_from_stats(mu[i], cov[i], mu[-1], cov[-1])
                out[("fidelity.frechet", s)] = (
                    fd,
                    "frechet-gaussian-judge-features-vs-real-images",
                    {},
                )
            except InvalidInputError as exc:
                skipped.append(f"fidelity.frechet at {s}: {exc}")
            prior = prior_plausibility(logp[i], logp_data)
            est, pp = "log-N(0,I)-percentile-in-table-log-p(z)", {"n_data": int(len(logp_data))}
            out[("prior.log_p_mean", s)] = (float(logp[i].mean()), "log-N(0,I)-mean", {})
            out[("prior.median_percentile", s)] = (prior["median_percentile"], est, pp)
            out[("prior.frac_below_data_p1", s)] = (prior["frac_below_data_p1"], est, pp)
        out[("fidelity.recon_mse", 0.0)] = (
            self.sums["recon"] / n,
            "mean-sq-pixel-error-decoded-z-vs-image",
            {},
        )
        dose_est = "least-squares-line-and-spearman-on-mean-response-over-strengths"
        out[("strength.slope", None)] = (dose["slope"], dose_est, {})
        out[("strength.spearman", None)] = (dose["spearman"], dose_est, {})
        out[("strength.item_spearman", None)] = (
            dose["item_spearman_mean"],
            "mean-per-item-spearman",
            {},
        )
        out[("linearity.r2", None)] = (dose["r2"], dose_est, {})
        if self.ppl:
            feats = np.concatenate(self.ppl, 1)  # (2, n_ppl, f)
            ppl = path_length(feats, self.ppl_eps)
            params = {"eps": self.ppl_eps, "n_items": int(feats.shape[1]), "t": "uniform-over-grid"}
            out[("smoothness.ppl", None)] = (
                ppl["path_length"],
                "sq-judge-feature-distance/eps2-trim-1-99",
                params,
            )
        else:
            skipped.append("smoothness.ppl: the strength grid is narrower than eps")
        if calibrate is not None:
            try:
                s_cal = calibrate_strength(grid, resp, calibrate)
                out[("calibration.strength", None)] = (
                    s_cal,
                    "isotonic-mean-response-smallest-abs-strength",
                    {"target_delta": calibrate},
                )
            except InvalidInputError as exc:
                skipped.append(f"calibration.strength: {exc}")
        return out, skipped


@task(cache_policy=NO_CACHE, **RETRY)
def score_direction(
    store_path: str,
    table: str,
    version: int,
    direction: str,
    judge: str,
    item_ids: np.ndarray,
    strengths: list[float],
    run_id: str,
    target: str | None = None,
    seed: int = 0,
    selection: dict[str, Any] | None = None,
    batch_size: int = 256,
    device: str | None = None,
    ppl_items: int = 128,
    ppl_eps: float = 1e-2,
    calibrate: float | None = 1.0,
) -> dict[str, Any]:
    """Edit, decode and judge ``item_ids`` along ``direction``; write its scorecard rows."""
    store = Store.open(store_path)
    snap, card = pin_snapshot(store, table, version)
    net, dev = decoder_for(store, card, device)
    model_card = store.models.card(card["model"])
    judge_net, judge_card = JudgeRegistry(store.root).load(judge, dev)
    check_judge(judge_card, model_card, net.x_shape)
    vec, lineage, _ = store.directions.get(direction)
    attr, weights, expr = resolve_target(
        target, lineage.label_spec, judge_card["factors"], direction
    )
    data = open_dataset(model_card["dataset"], model_card["train"].get("dataset_options", {}))

    scorecard = Scorecard(
        Judged(judge_net, attr, weights),
        net,
        dev,
        np.asarray(strengths, np.float64),
        np.asarray(vec.vector, np.float32),
        ppl_items=ppl_items,
        ppl_eps=ppl_eps,
        seed=seed,
    )
    z = rows_of(snap, item_ids)  # (N, d)
    for batch in data.batches(batch_size, item_ids):
        start = scorecard.n
        scorecard.add(z[start : start + len(batch.item_id)], batch.x)
    logp_data = log_prior(torch.from_numpy(snap.z)).numpy()  # (N_table,)
    values, skipped = scorecard.finish(logp_data, calibrate)
    if skipped:
        get_run_logger().warning("%s: scores left out: %s", direction, "; ".join(skipped))

    protocol = {
        "judge": judge_card["ref"],
        "judge_sha256": judge_card["sha256"],
        "seed": seed,
        "n_items": int(len(item_ids)),
        "strength_grid": tuple(float(s) for s in strengths),
        "base": {
            "target": expr,
            "selection": selection or {},
            "dataset_fingerprint": data.fingerprint,
        },
    }
    scores = [
        Score(
            metric,
            value,
            Protocol(
                estimator=est,
                params={**protocol["base"], **params},
                **{k: v for k, v in protocol.items() if k != "base"},
            ),
            direction=direction,
            strength=s,
            target=attr,
        )
        for (metric, s), (value, est, params) in values.items()
    ]
    source = ScoreSource(
        run_id, "edit", card["model"], card.get("model_sha256"), table, snap.version
    )
    written = ScoresTable(store.table_uri("scores")).insert(
        build_score_rows(scores, source), run_id
    )
    return {"direction": direction, "target": expr, "written": written, "skipped": skipped}


@task(cache_policy=NO_CACHE, **RETRY)
def score_disentanglement(
    store_path: str,
    table: str,
    version: int | None,
    metrics: list[str],
    run_id: str,
    factors: list[str] | None = None,
    where: str | None = None,
    fast: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """MIG / SAP / DCI / BetaVAE / FactorVAE of a latent table vs its factor columns; write them."""
    store = Store.open(store_path)
    snap, card = pin_snapshot(store, table, version)
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown or not metrics:
        raise InvalidInputError(
            f"metrics {unknown or metrics} unknown; choose from {sorted(METRICS)}"
        )
    ints = [
        c for c in factor_columns(snap.rows.schema) if snap.rows.schema.field(c).type == "int64"
    ]
    names = ints if factors is None else list(factors)
    missing = sorted(set(names) - set(ints))
    if missing or not names:
        raise InvalidInputError(
            f"factor columns {missing or names} are not integer factor columns of {table!r}; "
            f"it has {ints}"
        )
    pos = snap.positions(select_items(snap, where, None, seed))
    z = snap.z[pos]  # (N, d)
    y = np.stack([snap.rows[c].to_numpy()[pos] for c in names], axis=1)  # (N, K)
    scores = []
    for name in metrics:
        kwargs: dict[str, Any] = {"fast": fast, "seed": seed}
        if name in _NAMED:
            kwargs["factor_names"] = names
        values, proto = split_scores(METRICS[name](z, y, **kwargs))
        protocol = Protocol(
            estimator=str(proto.get(f"{name}.estimator", name)),
            seed=seed,
            n_items=int(len(z)),
            params={**proto, "factors": names, "where": where},
        )
        scores += [Score(metric, value, protocol) for metric, value in values.items()]
    source = ScoreSource(
        run_id, "disentanglement", card["model"], card.get("model_sha256"), table, snap.version
    )
    written = ScoresTable(store.table_uri("scores")).insert(
        build_score_rows(scores, source), run_id
    )
    return {"written": written, "factors": names, "n_items": int(len(z))}
