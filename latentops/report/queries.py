"""The store queries behind the report: every number it prints comes from one of these.

Tables, directions, edits and scores are read with read-only SQL through ``Store.sql`` (values
bound as parameters; identifiers only after they were checked against the store), the model
card from the registry, the table history from its Delta log, neighbours from ``Store.knn``.
The ``edits`` and ``scores`` sections are optional: when those tables do not exist yet the
matching fields stay None and the page says "not computed yet".
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from latentops.errors import InvalidInputError, NotFoundError
from latentops.report.data import ReportData
from latentops.report.options import ReportOptions
from latentops.storage.latents import SAMPLED, factor_columns

if TYPE_CHECKING:
    from latentops.storage import Store


def _ident(name: str) -> str:
    """A double-quoted SQL identifier (names are checked against the store before this)."""
    return '"' + name.replace('"', '""') + '"'


def _vectors(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A list / fixed-size-list column of floats -> (N, d) float32."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(col) == 0:
        return np.zeros((0, 0), np.float32)
    flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    return flat.reshape(len(col), -1)


def existing_tables(store: Store) -> set[str]:
    """Top-level tables (views) that exist in the store: models, directions, edits, scores..."""
    rows = store.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND NOT starts_with(table_name, '__')"
    )
    return set(rows["table_name"].to_pylist())


def pick_model_and_table(
    store: Store, model: str | None, table: str | None
) -> tuple[dict[str, Any], str | None]:
    """The model card and latent table to report on.

    Defaults: the most recently registered model, and of the latent tables holding its
    latents the alphabetically first, encoded ones before prior samples, whose item ids have
    no dataset image of their own (None when it has no table).
    """
    if table is not None:
        card = store.latent_table(table).card
        if model is not None and store.models.card(model)["ref"] != card.get("model"):
            raise InvalidInputError(
                f"latent table {table!r} holds latents of {card.get('model')}, not {model}; "
                f"drop --model or pass --model {card.get('model')}"
            )
        return store.models.card(card["model"]), table
    if model is None:
        if "models" not in existing_tables(store):
            raise NotFoundError(
                f"store {store.root} has no models yet; run `latentops demo` or `latentops train`"
            )
        latest = store.sql(
            "SELECT name || '@' || version AS ref FROM models ORDER BY created_at DESC LIMIT 1"
        )
        model = latest["ref"][0].as_py()
    card = store.models.card(model)
    cards = {t: store.latents(t).card for t in store.latent_tables()}
    tables = [t for t, c in cards.items() if c.get("model") == card["ref"]]
    tables.sort(key=lambda t: (cards[t].get("source") == SAMPLED, t))
    return card, (tables[0] if tables else None)


def table_facts(store: Store, table: str) -> dict[str, Any]:
    """Card, version, Delta history, rows per split and the dataset fingerprint of a table."""
    latents = store.latent_table(table)
    splits = store.sql(
        f"SELECT split, count(*) AS n, any_value(dataset_fingerprint) AS fingerprint "
        f"FROM latents.{_ident(table)} GROUP BY split ORDER BY split"
    ).to_pylist()
    names = latents.card.get("factor_names") or factor_columns(_schema(store, table))
    return {
        "table_card": latents.card,
        "table_version": latents.version,
        "table_history": latents.history(),
        "split_counts": [{"split": r["split"], "n": r["n"]} for r in splits],
        "n_rows": sum(r["n"] for r in splits),
        "dataset_fingerprint": splits[0]["fingerprint"] if splits else None,
        "factor_names": list(names),
        "storage": storage(store, table),
    }


def storage(store: Store, table: str) -> dict[str, Any]:
    """Files, bytes and versions a table occupies, and each pinned version with its reasons."""
    from latentops.storage.maintain import usage
    from latentops.storage.pins import pins

    used = usage(store.root / "latents" / table)
    reasons: dict[int, dict[str, int]] = {}
    for pin in pins(store, table):
        kinds = reasons.setdefault(pin.version, {})
        kinds[pin.kind] = kinds.get(pin.kind, 0) + 1
    return {
        "files": used.files,
        "bytes": used.bytes,
        "log_bytes": used.log_bytes,
        "versions": used.versions,
        "pins": [{"version": v, "reasons": kinds} for v, kinds in sorted(reasons.items())],
    }


def _schema(store: Store, table: str) -> pa.Schema:
    return store.sql(f"SELECT * FROM latents.{_ident(table)} LIMIT 0").schema


def dim_stats(store: Store, table: str) -> list[dict[str, Any]]:
    """Per latent dim: mean and std of z over the table and, with z_logvar, mean KL to N(0, 1)."""
    has_logvar = "z_logvar" in _schema(store, table).names
    kl = "avg(0.5 * (mu * mu + exp(lv) - lv - 1))" if has_logvar else "NULL::DOUBLE"
    lv = ", unnest(z_logvar::FLOAT[]) AS lv" if has_logvar else ""
    rows = store.sql(
        f"SELECT dim - 1 AS dim, avg(mu) AS mean, stddev_pop(mu) AS std, {kl} AS kl FROM ("
        f"SELECT unnest(z::FLOAT[]) AS mu{lv}, generate_subscripts(z::FLOAT[], 1) AS dim "
        f"FROM latents.{_ident(table)}) GROUP BY dim ORDER BY dim"
    )
    return rows.to_pylist()


def sample_items(store: Store, table: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` items of the held-out split first (then train), by item_id: ids (N,), z (N, d)."""
    rows = store.sql(
        f"SELECT item_id, z FROM latents.{_ident(table)} ORDER BY split <> 'test', item_id LIMIT ?",
        [n],
    )
    return rows["item_id"].to_numpy(), _vectors(rows["z"])


def directions(store: Store, model: str) -> list[dict[str, Any]]:
    """Latest version of every direction fitted in ``model``'s space (all of them: the report
    lists each), with its vector, metrics and audit (suggested names, near-duplicates)."""
    rows = store.sql(
        "SELECT name || '@' || version AS ref, name, version, method, kind, label, operation, "
        "space, metrics_json, card_json, latent_table, latent_table_version, created_at, vector "
        "FROM directions WHERE model = ? "
        "QUALIFY version = max(version) OVER (PARTITION BY name) ORDER BY name",
        [model],
    )
    out = rows.drop_columns(["vector", "metrics_json", "card_json"]).to_pylist()
    vectors = _vectors(rows["vector"])
    cards = rows["card_json"].to_pylist()
    for row, metrics, card, v in zip(
        out, rows["metrics_json"].to_pylist(), cards, vectors, strict=True
    ):
        row["metrics"] = json.loads(metrics or "{}")
        row["vector"] = v
        # strengths are in std units when the card has the data's spread along the vector
        row["std"] = json.loads(card or "{}").get("std")
        row["audit"] = json.loads(card or "{}").get("audit") or {}
    return out


def direction_cosines(store: Store, refs: list[str]) -> np.ndarray:
    """Cosine similarity of every pair of the given directions (D, D), computed in DuckDB."""
    rows = store.sql(
        "SELECT a.ref AS a, b.ref AS b, list_cosine_similarity(a.vector, b.vector) AS cosine "
        "FROM direction_vectors a, direction_vectors b "
        "WHERE list_contains(?, a.ref) AND list_contains(?, b.ref)",
        [refs, refs],
    ).to_pylist()
    index = {r: i for i, r in enumerate(refs)}
    out = np.full((len(refs), len(refs)), np.nan)
    for row in rows:
        out[index[row["a"]], index[row["b"]]] = row["cosine"]
    return out


def edits_summary(store: Store, model: str) -> list[dict[str, Any]]:
    """Per edit kind of this model's edits: rows, items, directions, thumbnails, last write."""
    return store.sql(
        "SELECT kind, count(*) AS edits, count(DISTINCT item_id) AS items, "
        "count(DISTINCT direction) AS directions, count(png) AS thumbnails, "
        "max(created_at) AS last_written FROM edits WHERE model = ? GROUP BY kind ORDER BY kind",
        [model],
    ).to_pylist()


def edit_strips(store: Store, refs: list[str], n_items: int) -> dict[str, list[dict[str, Any]]]:
    """Stored direction edits with thumbnails or decoded sentences: the first ``n_items`` items
    of each direction."""
    # edits tables written before text latents existed have no text columns until their next
    # insert adds them
    if "text" in store.sql("SELECT * FROM edits LIMIT 0").schema.names:
        decoded = "(e.png IS NOT NULL OR e.text IS NOT NULL)"
        text = "any_value(e.text) AS text, any_value(e.fidelity) AS fidelity"
    else:
        decoded, text = "e.png IS NOT NULL", "NULL AS text, NULL AS fidelity"
    rows = store.sql(
        "WITH items AS (SELECT direction, item_id FROM edits e "
        f"  WHERE kind = 'direction' AND {decoded} AND list_contains(?, direction) "
        "  GROUP BY direction, item_id "
        "  QUALIFY row_number() OVER (PARTITION BY direction ORDER BY item_id) <= ?) "
        f"SELECT e.direction, e.item_id, e.strength, any_value(e.png) AS png, {text} "
        "FROM edits e JOIN items USING (direction, item_id) "
        f"WHERE e.kind = 'direction' AND {decoded} "
        "GROUP BY e.direction, e.item_id, e.strength ORDER BY 1, 2, 3",
        [refs, n_items],
    ).to_pylist()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.pop("direction"), []).append(row)
    return out


def edit_scores(store: Store, model: str, refs: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each direction's scorecard rows from its latest evaluation run (kind 'edit')."""
    rows = store.sql(
        "WITH runs AS (SELECT direction, run_id FROM scores "
        "  WHERE kind = 'edit' AND model = ? AND list_contains(?, direction) "
        "  GROUP BY direction, run_id "
        "  QUALIFY row_number() OVER ("
        "    PARTITION BY direction ORDER BY max(created_at) DESC, run_id) = 1) "
        "SELECT s.direction, s.run_id, s.metric, s.strength, s.value, s.target, s.judge, s.seed, "
        "s.n_items, s.estimator, s.protocol_id, "
        "json_extract_string(s.params_json, '$.strength_unit') AS strength_unit "
        "FROM scores s JOIN runs USING (direction, run_id) "
        "WHERE s.kind = 'edit' ORDER BY s.direction, s.metric, s.strength NULLS FIRST",
        [model, refs],
    ).to_pylist()
    accuracy = {ref: _judge_accuracy(store, ref) for ref in {r["judge"] for r in rows}}
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        # the judge's held-out accuracy on the judged attribute ("shape" of "shape==2")
        attr = re.match(r"[A-Za-z_]\w*", row["target"] or "")
        row["judge_accuracy"] = accuracy[row["judge"]].get(attr.group() if attr else "")
        out.setdefault(row.pop("direction"), []).append(row)
    return out


def _judge_accuracy(store: Store, ref: str | None) -> dict[str, float]:
    """Held-out accuracy per head from a judge's card ({} when the judge is unknown)."""
    try:
        return store.judges.card(ref)["metrics"].get("held_out_accuracy", {}) if ref else {}
    except NotFoundError:
        return {}


def disentanglement(store: Store, model: str, table: str) -> list[dict[str, Any]]:
    """Latest value of every disentanglement metric of this table, with its protocol."""
    return store.sql(
        "SELECT metric, value, estimator, seed, n_items, latent_table_version AS table_version, "
        "protocol_id, run_id, created_at FROM scores "
        "WHERE kind = 'disentanglement' AND model = ? AND latent_table = ? "
        "QUALIFY row_number() OVER (PARTITION BY metric ORDER BY created_at DESC, run_id) = 1 "
        "ORDER BY metric",
        [model, table],
    ).to_pylist()


def map_points(store: Store, table: str, factor: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic sample of ``n`` latents (M, d) and their ``factor`` values (M,)."""
    rows = store.sql(
        f"SELECT z, {_ident(factor)} AS colour FROM latents.{_ident(table)} "
        "ORDER BY hash(item_id), item_id LIMIT ?",
        [n],
    )
    return _vectors(rows["z"]), rows["colour"].to_numpy(zero_copy_only=False)


def neighbours(
    store: Store, table: str, queries: np.ndarray, k: int
) -> tuple[list[dict[str, Any]], dict[int, np.ndarray]]:
    """k nearest neighbours (cosine) of each query item, and z of every item involved."""
    hits = store.knn(table, item_id=[int(i) for i in queries], k=k, metric="cosine")
    rows = hits.select(["query", "rank", "item_id", "distance"]).to_pylist()
    ids = sorted({int(r["item_id"]) for r in rows} | {int(q) for q in queries})
    zs = store.sql(
        f"SELECT item_id, z FROM latents.{_ident(table)} WHERE list_contains(?, item_id)", [ids]
    )
    return rows, dict(zip(zs["item_id"].to_pylist(), _vectors(zs["z"]), strict=True))


def gather(
    store: Store,
    model: str | None = None,
    table: str | None = None,
    options: ReportOptions | None = None,
) -> ReportData:
    """Run every report query for one model (and its latent table) into a ReportData."""
    opts = options or ReportOptions()
    card, table = pick_model_and_table(store, model, table)
    tables = existing_tables(store)
    data = ReportData(store=str(store.root), model=card, table=table, tables=tables)
    if "directions" in tables:
        data.directions = directions(store, card["ref"])
        refs = [d["ref"] for d in data.directions]
        data.cosine = direction_cosines(store, refs) if refs else None
    if "edits" in tables:
        data.edits_summary = edits_summary(store, card["ref"])
        # thumbnails (the costly part) for the first max_directions; every one gets a group
        strip_refs = [d["ref"] for d in data.directions[: opts.max_directions]]
        data.edit_strips = edit_strips(store, strip_refs, opts.n_items)
    if "scores" in tables:
        data.edit_scores = edit_scores(store, card["ref"], [d["ref"] for d in data.directions])
    if table is None:
        return data
    for key, value in table_facts(store, table).items():
        setattr(data, key, value)
    if "scores" in tables:
        data.disentanglement = disentanglement(store, card["ref"], table)
    if data.n_rows == 0:
        return data
    data.dim_stats = dim_stats(store, table)
    n = max(opts.n_items, opts.n_recon, 2 * opts.n_pairs, opts.n_queries)
    data.sample_ids, data.sample_z = sample_items(store, table, n)
    if "text" in data.factor_names and data.edit_strips:  # the "before" of text edit strips
        ids = sorted({r["item_id"] for rows in data.edit_strips.values() for r in rows})
        found = store.sql(
            f"SELECT item_id, text FROM latents.{_ident(table)} WHERE list_contains(?, item_id)",
            [ids],
        )
        data.source_texts = dict(
            zip(found["item_id"].to_pylist(), found["text"].to_pylist(), strict=True)
        )
    # free text colours no map: the first other factor does
    groups = [f for f in data.factor_names if f not in ("text", "truncated")]
    if groups:
        color_by = opts.color_by or groups[0]
        if color_by not in data.factor_names:
            raise InvalidInputError(
                f"--color-by {color_by!r} is not a factor column of {table!r}; "
                f"choose one of {data.factor_names}"
            )
        data.color_by = color_by
        data.map_z, data.map_colour = map_points(store, table, color_by, opts.map_points)
    else:
        data.map_z, _ = sample_items(store, table, opts.map_points)
    if data.n_rows > opts.k:
        data.neighbours, data.neighbour_z = neighbours(
            store, table, data.sample_ids[: opts.n_queries], opts.k
        )
    return data
