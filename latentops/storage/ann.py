"""Approximate kNN indexes (FAISS IVF / HNSW): derived data keyed by the table version.

An index is built for one (table, version, kind, metric) and stored beside the store's tables
as ``<root>/indexes/<table>/v<version>-<kind>-<metric>.faiss`` (FAISS's own format, as bytes
from ``faiss.serialize_index``, so local and S3 stores work alike) with a JSON card holding
its build and search parameters and the recall@k measured at build time against exact
search. The search parameter (IVF nprobe, HNSW efSearch) is tuned at build time to the
smallest value reaching ``target_recall``.
Once the table moves to a new version the index is stale: it is never used for the new
version, and building the new one removes the stale files. Rows are positions in the
version's item_id order; the card's sha256 of those ids guards the mapping.

Filters: a filter matching few rows is searched exactly (the subset is small, so that is
cheap and exact); otherwise FAISS searches only the matching rows through an ID selector,
and if it finds fewer than k of them the query falls back to exact search, so k rows come
back whenever k rows match.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import faiss
import numpy as np

from latentops.errors import CorruptArtifactError, InvalidInputError, NotFoundError
from latentops.storage._location import Location
from latentops.storage.knn import check_k, check_metric, exact_search, rerank
from latentops.storage.snapshot import Snapshot

KINDS = ("ivf", "hnsw")
EXACT_FRACTION = 0.1  # filters keeping at most this share of rows are searched exactly
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
_GRIDS = {"ivf": [2**i for i in range(16)], "hnsw": [16 * 2**i for i in range(8)]}


@dataclass(frozen=True)
class IndexInfo:
    """The card of one built index: what it covers, how it searches, its measured recall."""

    table: str
    version: int
    kind: str
    metric: str
    n: int
    d: int
    build: dict[str, Any]  # ivf: nlist, train rows; hnsw: M, efConstruction
    param: int  # tuned nprobe (ivf) or efSearch (hnsw)
    recall: float  # recall@recall_k at ``param`` on recall_queries items of the table
    recall_k: int
    recall_queries: int
    curve: list[list[float]]  # [param, recall] pairs tried while tuning
    build_seconds: float
    ids_sha256: str


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is ivf or hnsw."""
    if kind not in KINDS:
        raise InvalidInputError(f"index kind {kind!r} is not one of {KINDS}; ivf builds fastest")
    return kind


Root = Location | str | os.PathLike[str]


def index_dir(root: Root, table: str) -> Location:
    """Folder holding the indexes of one latent table."""
    return Location.of(root).child("indexes", table)


def index_path(root: Root, table: str, version: int, kind: str, metric: str) -> Location:
    """The FAISS file of (table, version, kind, metric); its card is the ``.json`` beside it."""
    return index_dir(root, table) / f"v{version}-{kind}-{metric}.faiss"


def _ids_sha(snap: Snapshot) -> str:
    return hashlib.sha256(np.ascontiguousarray(snap.ids).tobytes()).hexdigest()


def _vectors(x: np.ndarray, metric: str) -> np.ndarray:
    """What the index stores / is queried with: unit rows for cosine (then IP), else raw."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    return x


def _new_index(kind: str, x: np.ndarray, metric: str, seed: int) -> tuple[Any, dict[str, Any]]:
    """Build an index over rows x (N, d) -> (index, build parameters)."""
    n, d = x.shape
    fm = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M, fm)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.add(x)
        return index, {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
    # ~4 sqrt(N) lists, and at least 39 training rows per list as FAISS's k-means wants
    nlist = max(1, min(round(4 * math.sqrt(n)), n // 39))
    quantizer = faiss.IndexFlatL2(d) if fm == faiss.METRIC_L2 else faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, fm)
    n_train = min(n, 50 * nlist)
    sample = np.random.default_rng(seed).choice(n, n_train, replace=False)
    index.cp.seed = seed
    index.train(x[np.sort(sample)])
    index.add(x)
    return index, {"nlist": nlist, "train_rows": n_train}


def _search_params(kind: str, param: int, selector: Any = None) -> Any:
    if kind == "ivf":
        return faiss.SearchParametersIVF(sel=selector, nprobe=param)
    return faiss.SearchParametersHNSW(sel=selector, efSearch=param)


def _recall(found: np.ndarray, truth: np.ndarray, self_pos: np.ndarray, k: int) -> float:
    """Mean recall@k of neighbour lists (Q, k+1), each query's own row left out of both."""
    hits = 0
    for f, t, s in zip(found, truth, self_pos, strict=True):
        hits += len(set(f[f != s][:k].tolist()) & set(t[t != s][:k].tolist()))
    return hits / (k * len(truth))


def build_index(
    root: Root,
    snap: Snapshot,
    kind: str = "ivf",
    metric: str = "cosine",
    *,
    target_recall: float = 0.95,
    k: int = 10,
    n_queries: int = 200,
    seed: int = 0,
) -> IndexInfo:
    """Build, tune (smallest param reaching ``target_recall``), measure and store an index."""
    kind, metric, k = check_kind(kind), check_metric(metric), check_k(k)
    if not 0 < target_recall <= 1:
        raise InvalidInputError(f"target_recall={target_recall!r} must be in (0, 1], e.g. 0.95")
    n = len(snap.ids)
    if n <= k:
        raise InvalidInputError(
            f"latent table {snap.name!r} has {n} rows; an index needs more than k={k} "
            "(exact search is instant at this size)"
        )
    start = time.perf_counter()
    x = _vectors(snap.z, metric)
    index, build = _new_index(kind, x, metric, seed)
    build_seconds = time.perf_counter() - start
    # Tune on items of the table as queries: their exact neighbours are the truth.
    self_pos = np.sort(np.random.default_rng(seed + 1).choice(n, min(n, n_queries), replace=False))
    q = snap.z[self_pos]
    truth, _ = exact_search(snap, q, k + 1, metric)
    grid = [p for p in _GRIDS[kind] if kind != "ivf" or p < build["nlist"]]
    grid += [build["nlist"]] if kind == "ivf" else []
    curve: list[list[float]] = []
    for param in grid:
        _, found = index.search(_vectors(q, metric), k + 1, params=_search_params(kind, param))
        curve.append([param, round(_recall(found, truth, self_pos, k), 4)])
        if curve[-1][1] >= target_recall:
            break
    info = IndexInfo(
        table=snap.name,
        version=snap.version,
        kind=kind,
        metric=metric,
        n=n,
        d=snap.d,
        build=build,
        param=int(curve[-1][0]),
        recall=curve[-1][1],
        recall_k=k,
        recall_queries=len(self_pos),
        curve=curve,
        build_seconds=round(build_seconds, 3),
        ids_sha256=_ids_sha(snap),
    )
    path = index_path(root, snap.name, snap.version, kind, metric)
    # each write is atomic: readers see the old state or the whole new index / card
    path.write_bytes(faiss.serialize_index(index).tobytes())
    path.with_suffix(".json").write_text(json.dumps(asdict(info), indent=1))
    snap._derived[("ann", kind, metric)] = (index, info)
    prune(root, snap.name, keep_version=snap.version)
    return info


def read_card(path: Location | str | os.PathLike[str]) -> IndexInfo:
    """The IndexInfo stored beside a .faiss file."""
    path = Location.of(path)
    try:
        return IndexInfo(**json.loads(path.with_suffix(".json").read_text()))
    except (NotFoundError, ValueError, TypeError) as exc:
        raise CorruptArtifactError(
            f"index card {path.with_suffix('.json')} is missing or unreadable ({exc}); "
            "rebuild the index with `latentops index build`"
        ) from None


def list_indexes(root: Root, table: str | None = None) -> list[IndexInfo]:
    """Cards of every stored index (of one table, or all), oldest version first."""
    base = Location.of(root) / "indexes"
    folders = [base / table] if table else [p for p in base.iterdir() if p.is_dir()]
    cards = [read_card(p) for f in folders for p in f.glob("*.faiss")]
    return sorted(cards, key=lambda c: (c.table, c.version, c.kind, c.metric))


def prune(root: Root, table: str, keep_version: int) -> list[Location]:
    """Delete the index files of ``table`` built for versions other than ``keep_version``."""
    removed = []
    for path in index_dir(root, table).glob("v*-*"):
        if path.name.partition("-")[0] != f"v{keep_version}":
            path.unlink(missing_ok=True)  # a racing builder may have pruned it
            removed.append(path)
    return removed


def load_index(root: Root, snap: Snapshot, kind: str, metric: str) -> tuple[Any, IndexInfo]:
    """The index of this snapshot's version, or NotFoundError (saying if one is stale)."""
    kind = check_kind(kind)
    key = ("ann", kind, metric)
    if key in snap._derived:
        return snap._derived[key]
    path = index_path(root, snap.name, snap.version, kind, metric)
    fix = (
        f"build it with `latentops index build --table {snap.name} --kind {kind} --metric {metric}`"
    )
    if not path.exists():
        others = [p.name for p in index_dir(root, snap.name).glob(f"v*-{kind}-{metric}.faiss")]
        stale = (
            f" ({', '.join(others)} is stale: built for another table version)" if others else ""
        )
        raise NotFoundError(
            f"no {kind} index for latent table {snap.name!r} v{snap.version} ({metric})"
            f"{stale}; {fix}"
        )
    info = read_card(path)
    if info.n != len(snap.ids) or info.ids_sha256 != _ids_sha(snap):
        raise CorruptArtifactError(
            f"index {path} does not match the rows of v{snap.version}; {fix}"
        )
    try:
        index = faiss.deserialize_index(np.frombuffer(path.read_bytes(), dtype=np.uint8))
    except RuntimeError as exc:
        raise CorruptArtifactError(f"index {path} cannot be read ({exc}); {fix}") from None
    snap._derived[key] = (index, info)
    return index, info


def search(
    root: Root,
    snap: Snapshot,
    q: np.ndarray,
    k: int,
    metric: str,
    kind: str,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-k of queries q (Q, d) -> (positions, exact distances), k rows kept."""
    index, info = load_index(root, snap, kind, metric)
    n = len(snap.ids)
    if rows is not None and len(rows) <= max(k, EXACT_FRACTION * n):
        return exact_search(snap, q, k, metric, rows)
    selector, bitmap = None, None
    if rows is not None:
        mask = np.zeros(n, bool)
        mask[rows] = True
        bitmap = np.packbits(mask, bitorder="little")  # must outlive the search below
        selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
    kk = min(k, n if rows is None else len(rows))
    _, found = index.search(
        _vectors(q, metric), kk, params=_search_params(kind, info.param, selector)
    )
    if (found < 0).any():  # the probed part held fewer than k matching rows
        return exact_search(snap, q, k, metric, rows)
    return rerank(snap, q, found, kk, metric)
