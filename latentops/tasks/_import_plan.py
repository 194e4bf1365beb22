"""What an import will do, decided before anything is written (no Prefect, so the CLI can ask).

The whole file is read and checked (vectors, ids, label names and types), then checked against
the table it extends (d, columns, and who owns the ids); only then may a model be registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow.compute as pc

from latentops.data import load_array_file
from latentops.errors import InvalidInputError
from latentops.refs import check_name, generated_name
from latentops.storage import Store
from latentops.storage.latents import latent_schema


@dataclass(frozen=True)
class ImportPlan:
    """The identity model an import uses: ``model`` to reuse, else register ``identity``."""

    d: int
    model: str | None
    identity: str
    dataset: str
    fingerprint: str


def plan_import(store: Store, table: str, options: dict[str, Any]) -> ImportPlan:
    """Validate the file in ``options`` for ``table``; raise InvalidInputError naming the fix."""
    check_name(table, "table name")
    data = load_array_file(**options)  # every row: finite vectors, unique integer ids, labels
    if data.is_images:
        raise InvalidInputError(
            f"{data.name}: import takes embedding vectors, not images; pass --vector-column"
        )
    d = int(data.x_shape[-1])
    schema = latent_schema(data.factors(data.item_ids()), with_logvar=False)
    plan = {"d": d, "dataset": data.name, "fingerprint": data.fingerprint}
    identity = generated_name("identity", table)
    latents = store.latents(table)
    if latents.exists():
        card = latents.card
        if card.get("space") != "imported":
            raise InvalidInputError(
                f"latent table {table!r} holds latents that {card.get('model')} encoded, not "
                "imported vectors; import into a new table (--table NEW_NAME)"
            )
        latents.check_compatible(schema, {"d": d, "model": card["model"]})
        if data.positional_ids:
            _check_same_file(latents.read(["dataset_fingerprint"]), table, data)
        return ImportPlan(model=card["model"], identity=identity, **plan)
    same = [r for r in store.models.list().to_pylist() if r["name"] == identity]
    latest = max(same, key=lambda r: r["version"], default=None)
    reuse = f"{identity}@{latest['version']}" if latest and latest["latent_dim"] == d else None
    return ImportPlan(model=reuse, identity=identity, **plan)


def _check_same_file(rows: Any, table: str, data: Any) -> None:
    """Without ids, rows are keyed by position: only the same file may go into the table again."""
    others = set(pc.unique(rows["dataset_fingerprint"]).to_pylist()) - {data.fingerprint}
    if others:
        raise InvalidInputError(
            f"latent table {table!r} already holds rows of another file, and {data.name} has no "
            f"id column, so its rows would be keyed by position (0..{data.n_items - 1}) like "
            "theirs; give every row a unique integer id (a Parquet item_id column, or --id-column "
            "NAME) or import into a new --table"
        )
