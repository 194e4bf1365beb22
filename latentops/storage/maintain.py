"""Store maintenance: compact small files, checkpoint the Delta log, vacuum unreferenced files.

Delta's own vacuum keeps files by age only, which kills time travel to old versions. Here a
file is kept when any *retained* version references it: the newest version, every pinned
version (see ``pins``), every version committed inside the window, and the version that was
current when the window opened (the table as of the cutoff). Files no retained version lists
are deleted only when also older than the window, and only after the log has been read again
right before deleting (a version committed meanwhile keeps its files).

``grace`` protects concurrent writers: a merge writes its files before it commits, and a
reader scans the version it loaded, so nothing a version of the last ``grace`` needs (nor a
file younger than that) is removed, whatever ``older_than`` says.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from latentops.errors import CorruptArtifactError, InvalidInputError, LatentOpsError
from latentops.storage import _delta
from latentops.storage._location import Location, StoreAccessError, storage_options_for
from latentops.storage.check import missing_files, table_location, table_names
from latentops.storage.pins import pinned_versions

if TYPE_CHECKING:
    from latentops.storage.store import Store

GRACE = timedelta(minutes=10)
DEFAULT_OLDER_THAN = timedelta(days=7)
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT = {"s": 1, "": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> timedelta:
    """'7d', '12h', '30m', '45s', '2w' or plain seconds as a timedelta (InvalidInputError)."""
    match = _AGE.match(str(text))
    if not match:
        raise InvalidInputError(
            f"--older-than {text!r} is not an age; write a number and a unit s, m, h, d or w, "
            "e.g. 7d, 12h or 0"
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2)])


@dataclass(frozen=True)
class Usage:
    """What a table occupies: data files, their bytes, bytes of its log, versions."""

    files: int
    bytes: int
    log_bytes: int
    versions: int


@dataclass
class TableMaintenance:
    """What maintaining one table did (or, in a dry run, would remove)."""

    table: str
    dry_run: bool
    before: Usage | None = None  # None: the table was not maintained (see ``problem``)
    after: Usage | None = None
    compacted_removed: int = 0  # small files compaction replaced
    compacted_added: int = 0
    checkpoint: int | None = None  # version the log was checkpointed at
    vacuum_files: list[str] = field(default_factory=list)
    vacuum_bytes: int = 0
    log_files: list[str] = field(default_factory=list)  # log entries before the oldest kept
    log_bytes: int = 0
    retained_versions: list[int] = field(default_factory=list)
    pinned_versions: list[int] = field(default_factory=list)
    note: str | None = None
    problem: str | None = None  # why the table was left alone (damaged: `tables check`)

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (file names left out)."""
        out = asdict(self)
        out["vacuum_files"] = len(self.vacuum_files)
        out["log_files"] = len(self.log_files)
        return out


def _data_files(loc: Location) -> dict[str, pafs.FileInfo]:
    """Data files of a table (path relative to the table -> info), log and hidden files left out."""
    selector = pafs.FileSelector(loc.path, recursive=True, allow_not_found=True)
    with _delta.reaching(loc.uri, "list"):
        infos = loc.fs.get_file_info(selector)
    out = {}
    for info in infos:
        rel = info.path[len(loc.path) :].lstrip("/")
        if info.type != pafs.FileType.File or rel.startswith(("_delta_log/", "_", ".")):
            continue
        out[rel] = info
    return out


def usage(loc: Location) -> Usage:
    """Files and bytes a table occupies in the store, and how many versions its log has."""
    files = _data_files(loc)
    log = loc / "_delta_log"
    with _delta.reaching(loc.uri, "list"):
        infos = loc.fs.get_file_info(pafs.FileSelector(log.path, allow_not_found=True))
    log_bytes = sum(i.size or 0 for i in infos if i.type == pafs.FileType.File)
    versions = _delta.delta_table(loc.uri).version() + 1
    return Usage(len(files), sum(i.size or 0 for i in files.values()), log_bytes, versions)


def _files_of(uri: str, version: int) -> set[str]:
    """Relative paths of the data files version ``version`` of the table references."""
    with _delta.reaching(uri, "read the log of"):
        table = DeltaTable(uri, version=version, storage_options=storage_options_for(uri))
    paths = table.get_add_actions(flatten=True).column("path").to_pylist()
    return {unquote(str(p)) for p in paths}


def _retained(
    history: list[dict[str, Any]], latest: int, pinned: Iterable[int], cutoff_ms: float
) -> set[int]:
    """Newest, pinned, inside-the-window versions, and the one current when the window opened."""
    # history() reads the log as listed now: a commit racing this one can show up in it
    times = {
        int(h["version"]): float(h["timestamp"])
        for h in history
        if 0 <= int(h.get("version", -1)) <= latest
    }
    keep = {latest, *(v for v in pinned if 0 <= v <= latest)}
    keep |= {v for v, t in times.items() if t >= cutoff_ms}
    opened = [v for v, t in times.items() if t < cutoff_ms]
    if opened:
        keep.add(max(opened))
    return keep


def _compact(uri: str, run_id: str | None) -> tuple[int, int]:
    """Rewrite small files into larger ones (one commit, retried on conflicts)."""

    def attempt() -> dict[str, Any]:
        table = _delta.delta_table(uri)
        with _delta.reaching(uri, "compact"):
            return table.optimize.compact(
                commit_properties=_delta.commit_props(run_id, "maintain: compact"),
                post_commithook_properties=_delta.KEEP_LOG,
            )

    metrics = _delta.retry_commit(attempt, f"compacting {uri}")
    return int(metrics.get("numFilesRemoved", 0)), int(metrics.get("numFilesAdded", 0))


def maintain_table(
    store: Store,
    table: str,
    *,
    older_than: timedelta = DEFAULT_OLDER_THAN,
    dry_run: bool = False,
    grace: timedelta = GRACE,
    run_id: str | None = None,
) -> TableMaintenance:
    """Compact, checkpoint and vacuum one table (``latents/NAME``, ``NAME`` or a top table).

    A dry run changes nothing and lists the files vacuum would remove now.
    """
    if older_than < timedelta(0):
        raise InvalidInputError(f"older_than={older_than} must be >= 0")
    loc = table_location(store, table)
    uri = str(loc)
    latent = table not in _top_tables()
    name = table.removeprefix("latents/")
    label = f"latents/{name}" if latent else table
    _check_newest(loc, label)
    report = TableMaintenance(label, dry_run, usage(loc))
    if not dry_run:
        report.compacted_removed, report.compacted_added = _compact(uri, run_id)
        delta = _delta.delta_table(uri)
        with _delta.reaching(uri, "checkpoint"):
            delta.create_checkpoint()
        report.checkpoint = delta.version()
    pinned = sorted(pinned_versions(store, name)) if latent else []
    report.pinned_versions = pinned
    cutoff_s = time.time() - max(older_than, grace).total_seconds()
    delta = _delta.delta_table(uri)
    latest = delta.version()
    retained = _retained(delta.history(), latest, pinned, cutoff_s * 1000)
    report.retained_versions = sorted(retained)
    try:
        needed = set().union(*(_files_of(uri, v) for v in retained))
    except (DeltaError, OSError) as exc:
        if isinstance(exc, StoreAccessError):
            raise
        # a retained version no longer loads: we cannot tell which files it needs
        report.note = f"not vacuumed: a retained version does not load ({_delta.first_line(exc)})"
        report.after = usage(loc)
        return report
    files = _data_files(loc)
    lost = sorted(needed - set(files))
    if lost:  # the newest version is whole (checked above): an older kept one lost files
        report.note = (
            f"{len(lost)} data file(s) that older kept versions list are missing (e.g. "
            f"{lost[0]}): time travel to those versions fails"
        )
    candidates = {
        rel: info
        for rel, info in files.items()
        if rel not in needed and info.mtime is not None and info.mtime.timestamp() < cutoff_s
    }
    if candidates and not dry_run:
        candidates = _recheck(store, uri, name if latent else None, latest, retained, candidates)
    report.vacuum_files = sorted(candidates)
    report.vacuum_bytes = sum(i.size or 0 for i in candidates.values())
    if not dry_run:
        for rel in report.vacuum_files:
            loc.child(rel).unlink(missing_ok=True)
        if latent:  # a pin taken meanwhile keeps its log too
            retained |= pinned_versions(store, name)
    _trim_log(loc, min(retained), cutoff_s, dry_run, report)
    if not dry_run:
        report.after = usage(loc)
    return report


def _check_newest(loc: Location, label: str) -> None:
    """Refuse a table whose newest version lists missing data files (compaction reads them)."""
    delta = _delta.open_table(loc.uri, what=label)
    paths = [str(p) for p in delta.get_add_actions(flatten=True).column("path").to_pylist()]
    missing = missing_files(loc, paths)
    if missing:
        raise CorruptArtifactError(
            f"{label}: {len(missing)} data file(s) of the newest version are missing, e.g. "
            f"{missing[0]}; left alone: see how to repair it with `latentops tables check`"
        )


def _log_version(name: str) -> int | None:
    """The version a log entry (commit, checkpoint, crc) belongs to; None for other files."""
    head = name.partition(".")[0]
    return int(head) if len(head) == 20 and head.isdigit() else None


def _trim_log(
    loc: Location, oldest: int, cutoff_s: float, dry_run: bool, report: TableMaintenance
) -> None:
    """Delete log entries of versions before ``oldest`` once a checkpoint at ``oldest`` exists.

    Loading version v needs a checkpoint at or before v and the commits after it up to v, so
    with a checkpoint at the oldest kept version every kept version still loads.
    """
    log = loc / "_delta_log"
    with _delta.reaching(loc.uri, "list"):
        infos = loc.fs.get_file_info(pafs.FileSelector(log.path, allow_not_found=True))
    old = []
    for info in infos:
        version = _log_version(info.base_name)
        if version is None or version >= oldest or info.type != pafs.FileType.File:
            continue
        if info.mtime is not None and info.mtime.timestamp() < cutoff_s:
            old.append(info)
    if not old:
        return
    if not dry_run:
        with _delta.reaching(loc.uri, "checkpoint"):
            DeltaTable(
                loc.uri, version=oldest, storage_options=storage_options_for(loc.uri)
            ).create_checkpoint()
        if not (log / f"{oldest:020d}.checkpoint.parquet").is_file():
            return  # no checkpoint to start from: keep the whole log
        for info in old:
            log.child(info.base_name).unlink(missing_ok=True)
    report.log_files = sorted(i.base_name for i in old)
    report.log_bytes = sum(i.size or 0 for i in old)


def _recheck(
    store: Store,
    uri: str,
    latent: str | None,
    planned: int,
    retained: set[int],
    candidates: dict[str, pafs.FileInfo],
) -> dict[str, pafs.FileInfo]:
    """Drop candidates a version committed (or pinned) since planning references."""
    latest = _delta.delta_table(uri).version()
    again = set(range(planned + 1, latest + 1))
    if latent is not None:
        again |= pinned_versions(store, latent) - retained
    for version in sorted(again):
        for rel in _files_of(uri, version):
            candidates.pop(rel, None)
    return candidates


def _top_tables() -> tuple[str, ...]:
    from latentops.storage.store import TOP_TABLES

    return TOP_TABLES


def maintain_store(
    store: Store,
    *,
    table: str | None = None,
    older_than: timedelta = DEFAULT_OLDER_THAN,
    dry_run: bool = False,
    grace: timedelta = GRACE,
    run_id: str | None = None,
) -> list[TableMaintenance]:
    """Maintain every table of ``store`` (or just ``table``); a damaged one is left alone.

    A table that cannot be maintained (damaged log or data files) comes back with
    ``problem`` set, after the others were maintained.
    """
    names = [table] if table is not None else table_names(store)
    if table is not None:
        table_location(store, table)  # NotFoundError before any work
    reports = []
    for name in names:
        try:
            reports.append(
                maintain_table(
                    store, name, older_than=older_than, dry_run=dry_run, grace=grace, run_id=run_id
                )
            )
        except StoreAccessError:
            raise
        except LatentOpsError as exc:
            reports.append(TableMaintenance(name, dry_run, problem=str(exc)))
    return reports
