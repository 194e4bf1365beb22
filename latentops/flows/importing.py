"""Import flow: bring your own embeddings (Parquet/.npy) as a latent table, no model needed."""

from __future__ import annotations

from typing import Any

from prefect import flow

from latentops.flows.encode import encode_flow
from latentops.storage import Store
from latentops.tasks.importing import register_identity


@flow(name="import-embeddings")
def import_flow(
    path: str,
    table: str,
    vector_column: str | None = None,
    label_columns: list[str] | None = None,
    id_column: str | None = None,
    store: str | None = None,
    chunk_size: int = 65536,
    progress: bool = False,
) -> dict[str, Any]:
    """Validate the file, register its identity model, and encode its rows into ``table``.

    Rows are keyed by ``id_column`` (default: an ``item_id`` column when the file has one).
    Without ids they are keyed by position, so only the same file may extend the table.
    """
    root = str(Store.open(store).root)
    options = {
        "path": path,
        "vector_column": vector_column,
        "label_columns": label_columns,
        "id_column": id_column,
    }
    model = register_identity(root, table, options)
    return encode_flow(
        dataset="file",
        model=model,
        table=table,
        store=root,
        dataset_options=options,
        chunk_size=chunk_size,
        batch_size=chunk_size,
        progress=progress,
    )
