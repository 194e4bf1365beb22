"""CLI commands over the direction catalog (models: cli/_models.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import typer
from rich.markup import escape

from latentops.cli._common import (
    StoreOpt,
    check_exists,
    console,
    quiet_prefect,
    show_card,
    show_table,
)

directions_app = typer.Typer(help="The versioned direction catalog.", no_args_is_help=True)


@directions_app.command("fit")
def directions_fit(
    table: str = typer.Option(..., "--table", "-t", help="Latent table to fit on."),
    method: str = typer.Option(
        "logistic", "--method", help="mean_diff, logistic, linear_svm, ridge, pca, sefa."
    ),
    label: str = typer.Option(
        None, "--label", "-l", help="Label expression: col, col==v, col>v, col in (a,b)."
    ),
    name: str = typer.Option(
        ..., "--name", "-n", help="Catalog name; refitting creates NAME@next."
    ),
    n_components: int = typer.Option(None, "--n-components", help="pca/sefa: directions to find."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Extra method params KEY=JSON, repeatable."
    ),
    table_version: int = typer.Option(
        None, "--table-version", help="Fit on this table version (time travel)."
    ),
    store: str | None = StoreOpt,
) -> None:
    """Fit a direction and register it as NAME@next-version.

    Examples:
      latentops directions fit --table dsprites_vae_v1 --label shape==2 --method logistic --name heart
      latentops directions fit --table dsprites_vae_v1 --label scale --method ridge --name scale
    """
    from latentops.errors import InvalidInputError

    params = {}
    for item in param:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInputError(f"--param {item!r} must look like KEY=VALUE, e.g. C=0.1")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    if n_components is not None:
        params["n_components"] = n_components
    _check_fit(store, table, table_version, name, method, label)
    quiet_prefect()
    from latentops.flows.directions import fit_directions_flow

    spec = {"name": name, "method": method, "label": label, "params": params}
    refs = fit_directions_flow(table, [spec], store=store or None, table_version=table_version)
    show_directions(refs, store)


def _check_fit(
    store: str | None,
    table: str,
    table_version: int | None,
    name: str,
    method: str,
    label: str | None,
) -> None:
    """What a fit can check before Prefect starts: the table, name, method and label."""
    from latentops.directions import parse_label
    from latentops.directions.methods import method_info
    from latentops.errors import InvalidInputError
    from latentops.refs import check_name
    from latentops.storage import Store
    from latentops.storage.latents import factor_columns

    check_name(name, "direction name")
    latents = Store.open(store).latent_table(table)
    info = method_info(method)
    if label is None:
        if info.needs_labels:
            raise InvalidInputError(
                f"method {method!r} is supervised: pass --label, e.g. --label shape==2"
            )
        return
    snapshot = latents.read(factor_columns(latents.schema(table_version)), version=table_version)
    parse_label(
        label, {c: snapshot[c].to_numpy(zero_copy_only=False) for c in snapshot.column_names}
    )


def held_out_score(metrics: dict[str, float]) -> str:
    """The headline held-out number of a direction: AUC, accuracy, R² or explained variance."""
    for key, short in _HEADLINE:
        if key in metrics:
            return f"{short} {metrics[key]:.3f}"
    return "—"


def probe_columns(metrics: dict[str, float], audit: dict | None = None) -> dict[str, str]:
    """The linear and k-NN probe scores side by side, and any warning they (or the fit's
    audit: near-duplicates, biased labels) call for."""
    from latentops.directions import probe_flags, probe_scores
    from latentops.directions.audit import audit_flags

    linear, knn = probe_scores(metrics)
    return {
        "linear probe": "—" if linear is None else f"{linear:.3f}",
        "kNN probe": "—" if knn is None else f"{knn:.3f}",
        "note": "; ".join(probe_flags(metrics) + audit_flags(audit or {})) or "—",
    }


_HEADLINE = (
    ("auc", "AUC"),
    ("accuracy", "acc"),
    ("r2", "R²"),
    ("heldout_variance_ratio", "var"),
    ("explained_variance_ratio", "var"),
    ("eigenvalue_share", "eig"),
)


def show_directions(refs: list[str], store: Path | str | None) -> None:
    """Print registered directions with their held-out scores."""
    from latentops.storage import Store

    catalog = Store.open(store).directions
    rows, lineage = [], None
    for ref in refs:
        d, lineage, pinned = catalog.get(ref)
        rows.append(
            {
                "direction": str(pinned),
                "method": d.method,
                "label": d.label or "—",
                "held-out": held_out_score(d.metrics),
                **probe_columns(d.metrics, d.audit),
            }
        )
    title = (
        f"registered on {lineage.latent_table}@{lineage.latent_table_version}" if lineage else None
    )
    show_table(pa.Table.from_pylist(rows), title=title)


@directions_app.command("fit-all")
def directions_fit_all(
    table: str = typer.Option(..., "--table", "-t", help="Latent table to fit on."),
    methods: str = typer.Option(
        None, "--methods", help="Comma-separated subset of methods (default: all applicable)."
    ),
    store: str | None = StoreOpt,
) -> None:
    """Fit one direction per label column and applicable method, concurrently, in one flow.

    Example: latentops directions fit-all --table dsprites_vae_v1 --methods logistic,ridge
    """
    from latentops.directions.methods import method_info

    chosen = [m.strip() for m in methods.split(",")] if methods else None
    for method in chosen or ():
        method_info(method)
    check_exists(store, tables=[table])
    quiet_prefect()
    from latentops.flows.directions import fit_all_flow

    with console.status(f"fitting directions on {table}…"):
        refs = fit_all_flow(table, store=store or None, methods=chosen)
    show_directions(refs, store)


@directions_app.command("list")
def directions_list(store: str | None = StoreOpt) -> None:
    """List direction versions with their held-out score, warnings and suggested names.

    Example: latentops directions list
    """
    from latentops.cli._explain import suggested_name
    from latentops.storage import Store

    rows = []
    for row in Store.open(store, create=False).directions.list(cards=True).to_pylist():
        audit = json.loads(row["card_json"]).get("audit")
        rows.append(
            {
                "direction": f"{row['name']}@{row['version']}",
                "method": row["method"],
                "label": row["label"],
                "held-out": held_out_score(json.loads(row["metrics_json"])),
                **probe_columns(json.loads(row["metrics_json"]), audit),
                "suggested name": suggested_name(audit),
                "table": f"{row['latent_table']}@{row['latent_table_version']}",
                "created": row["created_at"],
            }
        )
    if not rows:
        console.print("no directions yet; run `latentops directions fit ...`")
        return
    show_table(pa.Table.from_pylist(rows), title="directions")


@directions_app.command("show")
def directions_show(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION."), store: str | None = StoreOpt
) -> None:
    """Show a direction's card, lineage and metrics.

    Example: latentops directions show heart@1
    """
    from latentops.storage import Store

    direction, lineage, pinned = Store.open(store, create=False).directions.get(ref)
    show_card({**direction.to_card(), "lineage": lineage.__dict__}, str(pinned))


@directions_app.command("diff")
def directions_diff(
    a: str = typer.Argument(..., help="First direction NAME[@V]."),
    b: str = typer.Argument(..., help="Second direction NAME[@V]."),
    store: str | None = StoreOpt,
) -> None:
    """Compare two directions: cosine, and how their metrics changed.

    Example: latentops directions diff heart@1 heart@2
    """
    from latentops.storage import Store

    catalog = Store.open(store, create=False).directions
    (da, la, ra), (db, lb, rb) = catalog.get(a), catalog.get(b)
    console.print(f"{escape(f'cosine({ra}, {rb})')} = [bold]{da.cosine(db):+.4f}[/bold]")
    keys = sorted(set(da.metrics) | set(db.metrics))
    rows = [{"metric": k, str(ra): da.metrics.get(k), str(rb): db.metrics.get(k)} for k in keys]
    rows += [
        {"metric": f"lineage.{k}", str(ra): str(getattr(la, k)), str(rb): str(getattr(lb, k))}
        for k in ("latent_table", "latent_table_version", "model")
        if getattr(la, k) != getattr(lb, k)
    ]
    show_table(pa.Table.from_pylist(rows), title="metrics")


@directions_app.command("export")
def directions_export(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION."),
    out: Path = typer.Option(
        Path("."), "--out", "-o", help="Folder to write NAME@V.safetensors into."
    ),
    store: str | None = StoreOpt,
) -> None:
    """Export a direction as safetensors with its card (shareable, no pickle).

    Example: latentops directions export heart@1 --out shared/
    """
    from latentops.storage import Store

    path = Store.open(store, create=False).directions.export(ref, out)
    console.print(f"wrote {path}", markup=False)


@directions_app.command("import")
def directions_import(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="A file written by `directions export`."
    ),
    name: str = typer.Option(
        None, "--name", help="Register under this name (default: the exported name)."
    ),
    store: str | None = StoreOpt,
) -> None:
    """Import an exported direction as NAME@next-version.

    Example: latentops directions import heart@1.safetensors --name heart
    """
    from latentops.storage import Store

    console.print(
        f"registered {Store.open(store).directions.import_file(path, name)}", markup=False
    )


@directions_app.command("transfer")
def directions_transfer(
    ref: str = typer.Argument(..., help="Direction NAME@VERSION to carry over."),
    to_table: str = typer.Option(
        ..., "--to-table", help="Latent table of the other model (same items)."
    ),
    kind: str = typer.Option("procrustes", "--map", help="procrustes (same d) or affine."),
    name: str = typer.Option(None, "--name", help="Register as NAME@next (default: same name)."),
    store: str | None = StoreOpt,
) -> None:
    """Carry a direction onto another model's latent table through an alignment of the two.

    Fits the map on the items both tables hold (held-out error recorded), registers it in
    `alignments`, and the carried direction as NAME@next with its held-out score on the new
    table beside that of a direction refit there from scratch.

    Example: latentops directions transfer heart@3 --to-table dsprites_vae_v2 --map procrustes
    """
    from latentops.directions.align import KINDS
    from latentops.errors import InvalidInputError

    if kind not in KINDS:
        raise InvalidInputError(f"--map {kind!r} is not one of {', '.join(KINDS)}")
    check_exists(store, tables=[to_table], directions=[ref])
    quiet_prefect()
    from latentops.flows.transfer import transfer_flow

    out = transfer_flow(ref, to_table, kind=kind, name=name, store=store or None)
    console.print(
        f"registered {out['ref']} (transferred from {out['transferred_from']} via "
        f"{out['alignment']}, {kind} held-out error {out['alignment_heldout_rel_error']:.3f}); "
        f"held-out {out['metric']} on {to_table}: {out['carried']:.3f} carried, "
        f"{out['refit']:.3f} refit from scratch",
        markup=False,
    )
    show_directions([out["ref"]], store)
