"""Pinned latent table versions: the ones something refers to, and the ones a user tagged.

A version of ``latents/<name>`` is pinned when a direction was fitted on it (catalog lineage),
a score or an edit was computed from it, or a user tagged it (``latentops tables tag``).
Maintenance keeps every file a pinned version needs, so time travel to it keeps working.
Tags live in the ``tags`` Delta table, keyed (table, name), one version per tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from latentops import __version__
from latentops.errors import InvalidInputError, NotFoundError
from latentops.refs import check_name
from latentops.storage import _delta
from latentops.storage.check import missing_files

if TYPE_CHECKING:
    from latentops.storage.store import Store

SCHEMA = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        ("run_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("code_version", pa.string()),
    ]
)
_MATCH = "t.table = s.table AND t.name = s.name"


@dataclass(frozen=True, order=True)
class Pin:
    """Why a table version is pinned: ``kind`` (direction/score/edit/tag/alignment), ``ref``."""

    version: int
    kind: str
    ref: str  # direction name@v, a score run id, a direction (edits), or a tag name


def _checked_version(store: Store, table: str, version: int) -> None:
    """Raise NotFoundError unless latent table ``table`` has ``version`` with all its files."""
    handle = store.latent_table(table)
    latest = handle.version
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= latest:
        raise NotFoundError(
            f"latent table {table!r} has versions 0..{latest}, not {version!r}; list them "
            f"with `latentops tables show {table}`"
        )
    delta = _delta.open_table(handle.uri, version, what=f"latent table {table!r}")
    paths = [str(p) for p in delta.get_add_actions(flatten=True).column("path").to_pylist()]
    if missing_files(store.root / "latents" / table, paths):
        raise NotFoundError(
            f"version {version} of latent table {table!r} was vacuumed by `latentops maintain` "
            "(its data files are gone); tag a version it kept: the newest or a pinned one "
            f"(`latentops tables pins {table}`)"
        )


class TagsTable:
    """The store's ``tags`` table: user names for latent table versions."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def read(self, table: str | None = None) -> pa.Table:
        """Every tag (of one latent table), sorted by table, version and name."""
        if not _delta.exists(self.uri):
            return SCHEMA.empty_table()
        rows = _delta.read(_delta.open_table(self.uri, what="tags table"))
        if table is not None:
            rows = rows.filter(pc.equal(rows["table"], table))
        return rows.sort_by(
            [("table", "ascending"), ("version", "ascending"), ("name", "ascending")]
        )

    def tag(self, store: Store, table: str, version: int, name: str, run_id: str | None) -> bool:
        """Tag ``table`` at ``version`` as ``name``; False if that exact tag already exists.

        A tag names one version for good: re-tagging a name to another version is refused
        (untag it first), so a pin never moves silently.
        """
        check_name(name, "tag name")
        _checked_version(store, table, version)
        tags = self.read(table)
        existing = tags.filter(pc.equal(tags["name"], name))
        if len(existing):
            have = existing["version"][0].as_py()
            if have == version:
                return False
            raise InvalidInputError(
                f"tag {name!r} already names {table} version {have}; remove it first with "
                f"`latentops tables untag {table} {name}` or pick another name"
            )
        row = {
            "table": table,
            "name": name,
            "version": version,
            "run_id": run_id,
            "created_at": datetime.now(UTC),
            "code_version": __version__,
        }
        _delta.create(self.uri, SCHEMA, {"kind": "tags"}, run_id)
        data = pa.Table.from_pylist([row], schema=SCHEMA)
        if _delta.insert_new(self.uri, data, _MATCH, run_id, "tag"):
            return True
        # a concurrent tagger won the race: fine if it chose the same version
        return self.tag(store, table, version, name, run_id)

    def untag(self, table: str, name: str, run_id: str | None) -> int:
        """Remove tag ``name`` of ``table``; return the version it named (NotFoundError if none)."""
        tags = self.read(table)
        hit = tags.filter(pc.equal(tags["name"], name))
        if not len(hit):
            known = ", ".join(tags["name"].to_pylist()) or "none"
            raise NotFoundError(f"latent table {table!r} has no tag {name!r}; its tags: {known}")
        version = int(hit["version"][0].as_py())

        def attempt() -> None:
            table_ = _delta.delta_table(self.uri)
            with _delta.reaching(self.uri, "commit to"):
                table_.delete(
                    # both values passed check_name / are table names: no quotes inside
                    f"\"table\" = '{table}' AND name = '{name}'",
                    commit_properties=_delta.commit_props(run_id, "untag"),
                    post_commithook_properties=_delta.KEEP_LOG,
                )

        _delta.retry_commit(attempt, f"removing tag {name!r} of {table}")
        return version


def _refs(uri: str, table: str, columns: list[str]) -> list[dict]:
    """Distinct rows of ``columns`` (plus the version) of a table's rows made from ``table``."""
    if not _delta.exists(uri):
        return []
    rows = _delta.read(
        _delta.open_table(uri), [*columns, "latent_table_version"], {"latent_table": table}
    )
    rows = rows.filter(pc.is_valid(rows["latent_table_version"]))
    return rows.group_by([*columns, "latent_table_version"]).aggregate([]).to_pylist()


def _alignment_pins(uri: str, table: str) -> list[Pin]:
    """Versions of ``table`` an alignment was fitted from or onto (it must stay refittable)."""
    if not _delta.exists(uri):
        return []
    delta, found = _delta.open_table(uri), []
    for side in ("source", "target"):
        rows = _delta.read(delta, ["name", "version", f"{side}_version"], {f"{side}_table": table})
        found += [
            Pin(r[f"{side}_version"], "alignment", f"{r['name']}@{r['version']}")
            for r in rows.to_pylist()
        ]
    return found


def pins(store: Store, table: str) -> list[Pin]:
    """Every reason a version of latent table ``table`` is pinned, sorted by version."""
    store.latent_table(table)  # NotFoundError listing the tables
    found = [
        Pin(r["latent_table_version"], "direction", f"{r['name']}@{r['version']}")
        for r in _refs(store.directions.uri, table, ["name", "version"])
    ]
    found += [
        Pin(r["latent_table_version"], "score", f"run {r['run_id']}")
        for r in _refs(store.scores.uri, table, ["run_id"])
    ]
    found += [
        Pin(r["latent_table_version"], "edit", f"{r['kind']} {r['direction'] or ''}".strip())
        for r in _refs(store.edits.uri, table, ["kind", "direction"])
    ]
    found += [Pin(int(r["version"]), "tag", r["name"]) for r in store.tags.read(table).to_pylist()]
    found += _alignment_pins(store.alignments.uri, table)
    return sorted(set(found))


def pinned_versions(store: Store, table: str) -> set[int]:
    """The versions of ``table`` something refers to."""
    return {p.version for p in pins(store, table)}
