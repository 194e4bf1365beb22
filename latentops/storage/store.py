"""Store: the one handle on a latent store, local or on S3 (tables, registries, SQL)."""

from __future__ import annotations

import json
import os
import shlex
import warnings
from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

from latentops.errors import (
    CorruptArtifactError,
    CorruptTableWarning,
    InvalidInputError,
    LatentOpsError,
    NotFoundError,
)
from latentops.refs import check_name
from latentops.storage import _delta, sql
from latentops.storage._location import Location
from latentops.storage.alignments import AlignmentRegistry
from latentops.storage.catalog import DirectionCatalog
from latentops.storage.deltas import latent_shift, version_delta
from latentops.storage.edits import EditsTable
from latentops.storage.judges import JudgeRegistry
from latentops.storage.latents import LatentTable
from latentops.storage.models import ModelRegistry
from latentops.storage.pins import TagsTable
from latentops.storage.scores import ScoresTable
from latentops.storage.snapshot import Snapshot, load_snapshot

MARKER = "latentops.json"
FORMAT = 1
DEFAULT_PATH = "./latent-store"
# Tables that live at the top of the store and become SQL views of the same name.
TOP_TABLES = ("models", "judges", "directions", "edits", "scores", "tags", "alignments")


class Store:
    """A folder or S3 prefix of Delta tables: ``latents/<name>``, models, directions, edits..."""

    def __init__(self, root: Location | str | os.PathLike[str]) -> None:
        self.root = Location.of(root)
        self.models = ModelRegistry(self.root)
        self.directions = DirectionCatalog(self.root)
        self.judges = JudgeRegistry(self.root)
        self.edits = EditsTable(str(self.root / "edits"))
        self.scores = ScoresTable(str(self.root / "scores"))
        self.tags = TagsTable(str(self.root / "tags"))
        self.alignments = AlignmentRegistry(self.root)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> Store:
        """Open the store at ``path`` (default $LATENTOPS_STORE or ./latent-store), creating it.

        ``path`` is a local folder, ``file:///abs/path`` or ``s3://bucket/prefix`` (the bucket
        must exist; endpoint, region and credentials come from the AWS_* environment).
        """
        root = Location.of(path or os.environ.get("LATENTOPS_STORE") or DEFAULT_PATH)
        root.check_bucket()
        marker = root / MARKER
        if root.is_file():
            raise InvalidInputError(
                f"store path {root} is a file, not a directory; pass a directory with --store"
            )
        if marker.exists():
            fmt = _marker_format(marker)
            if fmt != FORMAT:
                raise InvalidInputError(
                    f"{root} has store format {fmt}, expected {FORMAT}; open it with the "
                    "latentops version that wrote it"
                )
            return cls(root)
        # a racing creator's temporary marker does not make the folder "someone else's"
        if any(not c.name.startswith(f".{MARKER}") for c in root.iterdir()):
            raise InvalidInputError(
                f"{root} exists but is not a latentops store (no {MARKER}); "
                "pick an empty or new directory"
            )
        if not create:
            where = shlex.quote(str(root))
            raise NotFoundError(
                f"no latentops store at {root}; check --store / LATENTOPS_STORE, or create "
                f"one with `latentops train --store {where}` or `latentops demo --store {where}`"
            )
        marker.write_text(json.dumps({"format": FORMAT}))
        return cls(root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def latents(self, name: str) -> LatentTable:
        """Handle on latent table ``name`` (it may not exist yet)."""
        check_name(name, "table name")
        return LatentTable(str(self.root / "latents" / name), name)

    def latent_table(self, name: str) -> LatentTable:
        """Handle on an existing latent table, or NotFoundError listing the tables."""
        table = self.latents(name)
        if not table.exists():
            known = ", ".join(self.latent_tables()) or "none yet (run `latentops encode`)"
            raise NotFoundError(f"no latent table {name!r}; tables: {known}")
        return table

    def latent_tables(self) -> list[str]:
        """Names of the latent tables in the store."""
        children = (self.root / "latents").iterdir()
        return sorted(p.name for p in children if _delta.exists(str(p)))

    def table_uri(self, name: str) -> str:
        """URI of a top-level table (models, judges, directions, edits, scores, tags)."""
        if name not in TOP_TABLES:
            raise NotFoundError(
                f"unknown table {name!r}; top-level tables: {', '.join(TOP_TABLES)}"
            )
        return str(self.root / name)

    def connect(
        self,
        *,
        read_only: bool = True,
        memory_limit: str | None = None,
        materialize: bool | Iterable[str] = False,
    ) -> duckdb.DuckDBPyConnection:
        """DuckDB connection with every table as a view (latents as ``latents.<name>``).

        ``materialize`` (True, or latent table names) loads those tables into DuckDB memory
        once, so repeated queries on this connection (kNN, reports) skip reading Parquet.
        """
        names = self.latent_tables()
        if materialize is True:
            keep = set(names)
        else:
            keep = set(materialize or ())
            unknown = keep - set(names)
            if unknown:
                raise NotFoundError(
                    f"cannot materialize {sorted(unknown)}: latent tables are {names or 'none'}"
                )
        views = {f"latents.{n}" for n in keep}
        sources: dict[str, tuple[Any, int | None]] = {}
        tables = [(f"latents.{n}", self.latents(n).uri) for n in names]
        tables += [(n, self.table_uri(n)) for n in TOP_TABLES if _delta.exists(self.table_uri(n))]
        for view, uri in tables:
            try:
                sources[view] = _view_source(uri, latent=view.startswith("latents."))
            except LatentOpsError as exc:
                if view in views and materialize is not True:
                    raise
                # one unreadable table must not take SQL over the rest of the store down
                views.discard(view)
                warnings.warn(f"left out view {view}: {exc}", CorruptTableWarning, stacklevel=2)
        con = sql.connect(sources, memory_limit=memory_limit, materialize=views)
        sql.add_latent_delta(con, lambda t, v1, v2: version_delta(self.latent_table(t), v1, v2))
        sql.add_latent_shift(con, lambda t1, t2: latent_shift(self.snapshot(t1), self.snapshot(t2)))
        if read_only:
            sql.lock_down(con)
        return con

    def sql(
        self,
        query: str,
        params: list[Any] | None = None,
        *,
        timeout: float | None = None,
        memory_limit: str | None = None,
    ) -> pa.Table:
        """Run a read-only SQL query over the store and return an Arrow table.

        ``timeout`` (seconds) interrupts a long query with QueryTimeoutError; ``memory_limit``
        (e.g. '2GB') caps DuckDB's memory for it. The result comes back whole: for results
        larger than memory, stream them with ``sql.stream_user_query(store.connect(), q)``.
        """
        con = self.connect(memory_limit=memory_limit)
        try:
            return sql.run_user_query(con, query, params, timeout=timeout)
        finally:
            con.close()

    def snapshot(self, table: str, version: int | None = None) -> Snapshot:
        """Latent table ``table`` as of ``version`` (default: now), pinned and in memory."""
        return load_snapshot(self.latent_table(table), version)

    def knn(
        self, table: str, vector: Any = None, *, version: int | None = None, **query: Any
    ) -> pa.Table:
        """k nearest neighbours in ``table`` as of ``version``: see ``storage.search.search``."""
        from latentops.storage.search import search  # here: faiss loads only for a search

        return search(self.root, self.snapshot(table, version), vector, **query)


def _marker_format(marker: Location) -> Any:
    """The ``format`` a store marker file declares (CorruptArtifactError if it is not one)."""
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        if isinstance(exc, LatentOpsError):  # S3 access errors say what to check themselves
            raise
        meta, why = None, f"{type(exc).__name__}: {exc}"
    else:
        why = f"it holds {type(meta).__name__} {json.dumps(meta)[:80]}"
    if not isinstance(meta, dict):
        raise CorruptArtifactError(
            f"{marker} is not a latentops store marker ({why}); it must be a file holding "
            f'{{"format": {FORMAT}}}: restore it from a backup or rewrite it with that text'
        )
    return meta.get("format")


def _view_source(uri: str, *, latent: bool) -> tuple[Any, int | None]:
    """(Arrow dataset, d) of the table at ``uri`` for a SQL view (d only for latent tables)."""
    delta = _delta.open_table(uri)
    if not latent:
        return _delta.dataset(delta), None
    d = _delta.card_of(delta).get("d")
    if not isinstance(d, int) or d < 1:
        raise CorruptArtifactError(
            f"latent table {uri} has no latent dimension d in its card (got {d!r}); see how to "
            "repair it with `latentops tables check`"
        )
    return _delta.dataset(delta), d
