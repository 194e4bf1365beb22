"""Import flow: bring your own embeddings (Parquet/.npy) as a latent table, no model needed."""

from __future__ import annotations

from typing import Any

from prefect import flow

from latentops.flows.encode import encode_flow
from latentops.refs import check_name
from latentops.storage import Store
from latentops.tasks.importing import register_identity


@flow(name="import-embeddings")
def import_flow(
    path: str,
    table: str,
    vector_column: str | None = None,
    label_columns: list[str] | None = None,
    store: str | None = None,
    chunk_size: int = 65536,
    progress: bool = False,
) -> dict[str, Any]:
    """Register an identity model for the file's vectors and encode them into ``table``."""
    root = str(Store.open(store).root)
    check_name(table, "table name")
    options = {"path": path, "vector_column": vector_column, "label_columns": label_columns}
    model = register_identity(root, f"identity-{table}", options)
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
