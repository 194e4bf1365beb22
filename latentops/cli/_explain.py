"""CLI commands that make directions explain themselves: a method bake-off (``compare``) and
suggested names for unsupervised directions (``name``) and closed-loop disentangling."""

from __future__ import annotations

import pyarrow as pa
import typer

from latentops.cli._common import (
    DeviceOpt,
    StoreOpt,
    check_exists,
    console,
    quiet_prefect,
    show_table,
)
from latentops.cli._edit import STRENGTHS_HELP, SeedOpt, parse_grid


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _worst(off_target: dict[str, float]) -> str:
    if not off_target:
        return "—"
    attr = max(off_target, key=off_target.__getitem__)
    return f"{attr} {off_target[attr]:.3f}"


def compare(
    table: str = typer.Option(..., "--table", "-t", help="Latent table to fit and score on."),
    label: str = typer.Option(
        ..., "--label", "-l", help="Label expression: col, col==v, col>v, col in (a,b)."
    ),
    judge: str = typer.Option(..., "--judge", "-j", help="Judge NAME or NAME@VERSION."),
    methods: str = typer.Option(
        None, "--methods", help="Comma-separated methods (default: every applicable one)."
    ),
    name: str = typer.Option(
        None, "--name", "-n", help="Direction name (default: from the label, e.g. shape_2)."
    ),
    register_best: bool = typer.Option(
        False, "--register-best", help="Register the winner as NAME@next."
    ),
    strengths: str = typer.Option(None, "--strengths", help=STRENGTHS_HELP),
    sample: int = typer.Option(256, "--sample", help="Items each candidate's edits are judged on."),
    seed: int = SeedOpt,
    table_version: int = typer.Option(
        None, "--table-version", help="Compare on this table version (time travel)."
    ),
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Bake-off: fit every applicable method on one snapshot and split, judge and rank them.

    Every candidate is kept as a version of NAME_bakeoff; the ranked table is stored as
    "bakeoff" scores (latentops sql "SELECT * FROM scores WHERE kind = 'bakeoff'").

    Examples:
      latentops directions compare --table dsprites_vae_v1 --label pos_x --judge dsprites-judge
      latentops directions compare -t dsprites_vae_v1 -l shape==2 -j dsprites-judge --register-best
    """
    from latentops.directions.methods import method_info
    from latentops.tasks.compare import plan_compare

    chosen = [m.strip() for m in methods.split(",")] if methods else None
    for method in chosen or ():
        method_info(method)
    grid = parse_grid(strengths, "--strengths")
    root = str(check_exists(store, tables=[table], judges=[judge]).root)
    plan_compare.fn(root, table, label, judge, chosen, table_version)  # one line on bad input
    quiet_prefect()
    from latentops.flows.compare import compare_flow

    with console.status(f"bake-off for {label} on {table}…"):
        out = compare_flow(
            table,
            label,
            judge,
            methods=chosen,
            name=name,
            register_best=register_best,
            store=root,
            table_version=table_version,
            strengths=grid,
            sample=sample,
            seed=seed,
            device=device,
        )
    rows = [
        {
            "rank": r["rank"],
            "direction": r["direction"],
            "method": r["method"],
            "held-out probe": _fmt(r["probe"]),
            "judged effect": _fmt(r["effect"]),
            "off-target": _fmt(r["off_target"]),
            "leak": _fmt(r["leak"]),
            "linearity": _fmt(r["linearity"]),
            "calibration": _fmt(r["calibration"]),
        }
        for r in out["ranked"]
    ]
    title = f"bake-off {label} on {table}@{out['table_version']}, judge {out['judge']}"
    show_table(pa.Table.from_pylist(rows), title=title)
    if out["registered"]:
        console.print(f"registered {out['registered']} (the winner)", markup=False)


def name_directions(
    table: str = typer.Option(..., "--table", "-t", help="Latent table to traverse on."),
    judge: str = typer.Option(..., "--judge", "-j", help="Judge NAME or NAME@VERSION."),
    direction: list[str] = typer.Option(
        [], "--direction", "-d", help="Name this direction NAME[@V] (repeatable)."
    ),
    method: str = typer.Option(
        None, "--method", help="Fit and name components first: pca, sefa or axes."
    ),
    n_components: int = typer.Option(3, "--n-components", min=1, help="pca/sefa components."),
    prefix: str = typer.Option(
        None, "--prefix", help="Name of the fitted components (default: the table name)."
    ),
    strengths: str = typer.Option(None, "--strengths", help=STRENGTHS_HELP),
    sample: int = typer.Option(256, "--sample", help="Items each traversal is judged on."),
    seed: int = SeedOpt,
    table_version: int = typer.Option(
        None, "--table-version", help="Traverse this table version (time travel)."
    ),
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Suggest names for directions from a judged traversal (which attributes move, which not).

    Each named direction gets NAME@next with the names and their evidence on its card
    (latentops sql "SELECT name, version, json_extract_string(card_json, '$.audit.names.label')
    FROM directions").

    Examples:
      latentops directions name --table dsprites_vae_v1 --judge dsprites-judge --method pca
      latentops directions name -t dsprites_vae_v1 -j dsprites-judge --method axes
      latentops directions name -t dsprites_vae_v1 -j dsprites-judge -d dsprites_vae_v1-pca0
    """
    if not direction and method is None:  # a usage error (exit 2)
        raise typer.BadParameter("pass --direction NAME (repeatable) or --method pca|sefa|axes")
    grid = parse_grid(strengths, "--strengths")
    root = str(check_exists(store, tables=[table], directions=direction, judges=[judge]).root)
    quiet_prefect()
    from latentops.flows.naming import name_flow

    with console.status(f"naming directions of {table}…"):
        out = name_flow(
            table,
            judge,
            directions=direction or None,
            method=method,
            n_components=n_components,
            prefix=prefix,
            store=root,
            table_version=table_version,
            strengths=grid,
            sample=sample,
            seed=seed,
            device=device,
        )
    rows = [
        {"direction": ref, "suggested name": n["label"] or "—", "evidence": n["evidence"]}
        for ref, n in out.items()
    ]
    show_table(pa.Table.from_pylist(rows), title=f"suggested names on {table}")


def suggested_name(audit: dict | None) -> str:
    """A listing's cell for a direction's suggested name: "pos_x (ρ +0.98)" or "—"."""
    names = (audit or {}).get("names")
    if not names or not names.get("label"):
        return "—"
    rho = names["attributes"][names["label"]]["spearman"]
    return f"{names['label']} (ρ {rho:+.2f})"


def disentangle(
    name: str = typer.Argument(..., help="Direction NAME (its latest version) or NAME@V."),
    judge: str = typer.Option(..., "--judge", "-j", help="Judge NAME or NAME@VERSION."),
    strengths: str = typer.Option(None, "--strengths", help=STRENGTHS_HELP),
    sample: int = typer.Option(256, "--sample", help="Items both scorecards judge."),
    seed: int = SeedOpt,
    device: str = DeviceOpt,
    store: str | None = StoreOpt,
) -> None:
    """Remove a direction's worst judged leaks: NAME@next orthogonal to them, kept if better.

    Scores NAME, orthogonalises it against the directions of the attributes its edits change
    most (the scorecard's leak.<attr>), scores the result the same way, and keeps the one
    with the larger target-minus-leak change (both stay in the catalog, parent and reason).

    Example: latentops directions disentangle heart --judge dsprites-judge
    """
    from latentops.tasks._common import check_evaluation

    opened = check_exists(store, directions=[name], judges=[judge])
    _, lineage, pinned = opened.directions.get(name)
    snap = opened.snapshot(lineage.latent_table)
    check_evaluation(opened, snap.card, judge, [str(pinned)], None)  # one line on bad input
    grid = parse_grid(strengths, "--strengths")
    quiet_prefect()
    from latentops.flows.disentangle import disentangle_flow

    with console.status(f"disentangling {pinned}…"):
        out = disentangle_flow(
            str(pinned),
            judge,
            store=str(opened.root),
            strengths=grid,
            sample=sample,
            seed=seed,
            device=device,
        )
    rows = [
        {
            "direction": ref,
            "judged effect": _fmt(v["effect"]),
            "worst off-target": _worst(v["off_target"]),
            "selectivity": _fmt(v["selectivity"]),
            "kept": "yes" if ref == out["kept"] else "",
        }
        for ref, v in out["verdicts"].items()
    ]
    show_table(pa.Table.from_pylist(rows), title=f"disentangling {pinned}")
    console.print(f"latest: {out['latest']}", markup=False)


def register(directions_app: typer.Typer) -> None:
    """Add the bake-off, naming and disentangling commands to the ``directions`` group."""
    directions_app.command("disentangle")(disentangle)
    directions_app.command("compare")(compare)
    directions_app.command("name")(name_directions)
