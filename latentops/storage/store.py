"""Store: the one handle on a latent store, local or on S3 (tables, registries, SQL)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

from latentops.errors import InvalidInputError, NotFoundError
from latentops.refs import check_name
from latentops.storage import _delta, sql
from latentops.storage._location import Location
from latentops.storage.catalog import DirectionCatalog
from latentops.storage.edits import EditsTable
from latentops.storage.judges import JudgeRegistry
from latentops.storage.latents import LatentTable
from latentops.storage.models import ModelRegistry
from latentops.storage.scores import ScoresTable
from latentops.storage.snapshot import Snapshot, load_snapshot

MARKER = "latentops.json"
FORMAT = 1
DEFAULT_PATH = "./latent-store"
# Tables that live at the top of the store and become SQL views of the same name.
TOP_TABLES = ("models", "judges", "directions", "edits", "scores")


class Store:
    """A folder or S3 prefix of Delta tables: ``latents/<name>``, models, directions, edits..."""

    def __init__(self, root: Location | str | os.PathLike[str]) -> None:
        self.root = Location.of(root)
        self.models = ModelRegistry(self.root)
        self.directions = DirectionCatalog(self.root)
        self.judges = JudgeRegistry(self.root)
        self.edits = EditsTable(str(self.root / "edits"))
        self.scores = ScoresTable(str(self.root / "scores"))

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
            try:
                meta = json.loads(marker.read_text())
            except json.JSONDecodeError as exc:
                raise InvalidInputError(
                    f"{marker} is corrupt ({exc}); restore it or remove it"
                ) from exc
            if meta.get("format") != FORMAT:
                raise InvalidInputError(
                    f"{root} has store format {meta.get('format')}, expected {FORMAT}"
                )
            return cls(root)
        # a racing creator's temporary marker does not make the folder "someone else's"
        if any(not c.name.startswith(f".{MARKER}") for c in root.iterdir()):
            raise InvalidInputError(
                f"{root} exists but is not a latentops store (no {MARKER}); "
                "pick an empty or new directory"
            )
        if not create:
            raise NotFoundError(
                f"no latentops store at {root}; create one by running a command with --store {root}"
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
        """URI of a top-level table (models, judges, directions, edits, scores)."""
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
        sources: dict[str, tuple[Any, int | None]] = {}
        for name in names:
            table = self.latents(name)
            delta = _delta.open_table(table.uri)
            sources[f"latents.{name}"] = (_delta.dataset(delta), int(_delta.card_of(delta)["d"]))
        for name in TOP_TABLES:
            uri = self.table_uri(name)
            if _delta.exists(uri):
                sources[name] = (_delta.dataset(_delta.open_table(uri)), None)
        views = {f"latents.{n}" for n in keep}
        con = sql.connect(sources, memory_limit=memory_limit, materialize=views)
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
        (e.g. '2GB') caps DuckDB's memory for it.
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
