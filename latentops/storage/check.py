"""Integrity checks of a store's Delta tables, each finding with the command that repairs it.

A table passes when its transaction log reads, every data file the log lists is present, and
(for latent tables) the card names a dimension d that every stored vector has.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake.exceptions import DeltaError

from latentops.errors import LatentOpsError, NotFoundError
from latentops.storage import _delta
from latentops.storage._location import Location, StoreAccessError
from latentops.storage.sql import VECTOR_COLUMNS

if TYPE_CHECKING:
    from latentops.storage.store import Store


@dataclass(frozen=True)
class TableCheck:
    """What checking one table found: ``problem`` is None when the table is sound."""

    table: str  # "latents/<name>" or a top-level table name
    version: int | None
    files: int | None
    rows: int | None
    d: int | None
    problem: str | None = None
    repair: str | None = None


def table_names(store: Store) -> list[str]:
    """Every table of the store as ``check_table`` names it: latents/<name>, then top tables."""
    from latentops.storage.store import TOP_TABLES

    names = [f"latents/{n}" for n in _latent_dirs(store)]
    return names + [n for n in TOP_TABLES if (store.root / n / "_delta_log").exists()]


def _latent_dirs(store: Store) -> list[str]:
    """Folders under latents/ that hold a _delta_log, readable or not."""
    return [p.name for p in (store.root / "latents").iterdir() if (p / "_delta_log").exists()]


def check_store(store: Store) -> list[TableCheck]:
    """Check every table of ``store``."""
    return [check_table(store, name) for name in table_names(store)]


def table_location(store: Store, table: str) -> Location:
    """The folder of ``table`` (latents/<name>, a bare latent table name, or a top table)."""
    from latentops.storage.store import TOP_TABLES

    if table in TOP_TABLES:
        return store.root / table
    name = table.removeprefix("latents/")
    store.latents(name)  # validates the name
    loc = store.root / "latents" / name
    if not (loc / "_delta_log").exists():
        known = ", ".join(table_names(store)) or "none"
        raise NotFoundError(f"no table {table!r} in {store.root}; tables: {known}")
    return loc


def check_table(store: Store, table: str) -> TableCheck:
    """Check one table: log readable, data files present, latent dimension consistent."""
    loc = table_location(store, table)
    uri = str(loc)
    try:
        delta = _delta.delta_table(uri)
    except StoreAccessError:
        raise
    except (DeltaError, OSError) as exc:
        problem = f"its transaction log does not read ({_delta.first_line(exc)})"
        return TableCheck(table, None, None, None, None, problem, _log_repair(loc))
    actions = delta.get_add_actions(flatten=True)
    version, files = delta.version(), [str(p) for p in actions.column("path").to_pylist()]
    rows = sum(int(n or 0) for n in actions.column("num_records").to_pylist())
    missing = missing_files(loc, files)
    if missing:
        cmd = f"latentops tables repair {shlex.quote(table)} --store {shlex.quote(str(store.root))}"
        return TableCheck(
            table,
            version,
            len(files),
            rows,
            None,
            f"{len(missing)} of {len(files)} data files are missing, e.g. {missing[0]}",
            f"put the files back (from a backup), or drop their rows from the table: {cmd}",
        )
    if not table.startswith("latents/"):
        return TableCheck(table, version, len(files), rows, None)
    return _check_d(table, delta, loc, version, len(files), rows)


def missing_files(loc: Location, files: list[str]) -> list[str]:
    """The data files (paths relative to the table) that are not in the store."""
    if not files:
        return []
    infos = loc.fs.get_file_info([loc.child(f).path for f in files])
    return [f for f, info in zip(files, infos, strict=True) if info.type == pafs.FileType.NotFound]


def _check_d(
    table: str, delta: Any, loc: Location, version: int, files: int, rows: int
) -> TableCheck:
    """A latent table's card must name d and every stored vector must have d values."""
    rebuild = (
        "rebuild the table: encode the items again into a new one "
        "(latentops encode --model MODEL --table NEW_NAME), then drop this one: "
        + _remove_command(loc)
    )
    try:
        d = _delta.card_of(delta).get("d")
    except LatentOpsError as exc:
        return TableCheck(table, version, files, rows, None, str(exc), rebuild)
    if not isinstance(d, int) or d < 1:
        problem = f"the table card has no latent dimension d (got {json.dumps(d)})"
        return TableCheck(table, version, files, rows, None, problem, rebuild)
    columns = [c for c in VECTOR_COLUMNS if c in delta.schema().to_arrow().names]
    for batch in _delta.arrow_dataset(delta).to_batches(columns=columns):
        for column in columns:
            lengths = pc.list_value_length(batch.column(column))
            bad = pc.filter(lengths, pc.not_equal(lengths, d))
            if len(bad):
                problem = (
                    f"card says d={d} but column {column!r} holds vectors of length "
                    f"{bad[0].as_py()}"
                )
                return TableCheck(table, version, files, rows, d, problem, rebuild)
    return TableCheck(table, version, files, rows, d)


def _log_repair(loc: Location) -> str:
    """How to repair a table whose log does not read: drop a damaged last commit, or the table."""
    log = loc / "_delta_log"
    commits = [c for c in log.glob("*.json") if c.name[:-5].isdigit()]  # sorted by name
    damaged = [c for c in commits if not _parses(c)]
    if damaged and damaged[0] == commits[-1] and len(commits) > 1:
        version = int(commits[-2].name[:-5])
        return (
            f"its last commit is damaged: remove it to return the table to version {version}: "
            + _remove_command(commits[-1], recursive=False)
        )
    return f"restore {log} from a backup, or drop the table: {_remove_command(loc)}"


def _parses(commit: Location) -> bool:
    """True if every line of a Delta commit file is JSON."""
    try:
        lines = commit.read_text().splitlines()
        for line in lines:
            json.loads(line)
    except (ValueError, LatentOpsError):
        return False
    return bool(lines)


def _remove_command(loc: Location, *, recursive: bool = True) -> str:
    """A shell command that deletes ``loc`` (a folder unless ``recursive`` is False)."""
    if loc.is_local:
        return f"rm {'-r ' if recursive else ''}{shlex.quote(loc.path)}"
    return f"aws s3 rm {'--recursive ' if recursive else ''}{shlex.quote(loc.uri)}"


def repair(store: Store, table: str, run_id: str | None = None) -> int:
    """Drop the data files ``table``'s log lists but the store lacks; return how many.

    Commits a new version only when some file is missing.
    """
    loc = table_location(store, table)
    delta = _delta.open_table(str(loc), what=table)
    paths = delta.get_add_actions(flatten=True).column("path").to_pylist()
    if not missing_files(loc, [str(p) for p in paths]):
        return 0
    metrics = delta.repair(
        commit_properties=_delta.commit_props(run_id, "repair"),
        post_commithook_properties=_delta.KEEP_LOG,
    )
    return len(metrics.get("files_removed", []))
