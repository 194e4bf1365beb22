"""Direction catalog: immutable, self-describing ``name@version`` direction vectors."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from latentops import __version__
from latentops.errors import CorruptArtifactError, InvalidInputError, LatentOpsError
from latentops.refs import Ref, check_name, parse_ref
from latentops.storage import _delta, _versioned
from latentops.storage._location import Location

if TYPE_CHECKING:
    from latentops.directions import Direction
    from latentops.storage.snapshot import Snapshot


def _direction(card: dict[str, Any], vector: np.ndarray) -> Direction:
    """A Direction from its card and vector; latentops.directions imports scipy (seconds), so
    only commands that read vectors pay for it, not every store open."""
    from latentops.directions import Direction

    return Direction.from_card(card, vector)


SCHEMA = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        ("method", pa.string()),
        ("kind", pa.string()),
        ("label", pa.string()),
        ("label_spec_json", pa.string()),
        ("vector", pa.list_(pa.float32())),
        ("d", pa.int64()),
        ("operation", pa.string()),
        ("sign", pa.int64()),
        ("unit_norm", pa.bool_()),
        ("space", pa.string()),
        ("params_json", pa.string()),
        ("metrics_json", pa.string()),
        ("card_json", pa.string()),
        ("latent_table", pa.string()),
        ("latent_table_version", pa.int64()),
        ("model", pa.string()),
        ("model_sha256", pa.string()),
        ("parent", pa.string()),
        ("run_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("code_version", pa.string()),
    ]
)


@dataclass(frozen=True)
class DirectionLineage:
    """Where a direction came from: the latent space and data it was fitted on."""

    space: str = "mu"  # "mu" (posterior means), "z" (samples), "imported"
    latent_table: str | None = None
    latent_table_version: int | None = None
    model: str | None = None
    model_sha256: str | None = None
    label_spec: dict[str, Any] | None = None
    parent: str | None = None
    run_id: str | None = None


def _row_to_lineage(row: dict[str, Any]) -> DirectionLineage:
    return DirectionLineage(
        space=row["space"],
        latent_table=row["latent_table"],
        latent_table_version=row["latent_table_version"],
        model=row["model"],
        model_sha256=row["model_sha256"],
        label_spec=json.loads(row["label_spec_json"] or "null"),
        parent=row["parent"],
        run_id=row["run_id"],
    )


def _check_same_space(
    direction: Direction, lineage: DirectionLineage, ref: str, card: dict[str, Any], table: str
) -> None:
    """Refuse a direction fitted in another latent space (model, weights, d) than ``table``."""
    fix = (
        f"fit the direction on this table (latentops directions fit --table {table} ...) or "
        "edit a latent table of the model it was fitted on"
    )
    if direction.d != int(card["d"]):
        raise InvalidInputError(
            f"direction {ref} has d={direction.d} but latent table {table!r} holds "
            f"d={card['d']} latents of {card.get('model')}; {fix}"
        )
    theirs, ours = lineage.model_sha256, card.get("model_sha256")
    # equal weights are the same space whatever the name; without hashes compare the refs
    same = theirs == ours if theirs and ours else lineage.model in (None, card.get("model"))
    if not same:
        raise InvalidInputError(
            f"direction {ref} was fitted in the latent space of {lineage.model} (weights "
            f"{(theirs or '?')[:12]}) but latent table {table!r} holds latents of "
            f"{card.get('model')} (weights {(ours or '?')[:12]}); {fix}"
        )


class DirectionCatalog:
    """The ``directions`` table of a store."""

    def __init__(self, root: Location | str | os.PathLike[str]) -> None:
        self.uri = str(Location.of(root) / "directions")

    def register(self, name: str, direction: Direction, lineage: DirectionLineage) -> Ref:
        """Store ``direction`` as the next version of ``name``; nothing is overwritten."""
        check_name(name, "direction name")
        vector = np.asarray(direction.vector, dtype=np.float32)
        card = direction.to_card()

        def row(version: int) -> dict[str, Any]:
            return {
                "name": name,
                "version": version,
                "method": direction.method,
                "kind": direction.kind,
                "label": direction.label,
                "label_spec_json": json.dumps(lineage.label_spec, sort_keys=True),
                "vector": vector.tolist(),
                "d": int(vector.shape[0]),
                "operation": direction.operation,
                "sign": int(direction.sign),
                "unit_norm": bool(abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4),
                "space": lineage.space,
                "params_json": json.dumps(direction.params, sort_keys=True, default=str),
                "metrics_json": json.dumps(direction.metrics, sort_keys=True, default=float),
                "card_json": json.dumps(card, sort_keys=True, default=str),
                "latent_table": lineage.latent_table,
                "latent_table_version": lineage.latent_table_version,
                "model": lineage.model,
                "model_sha256": lineage.model_sha256,
                "parent": lineage.parent,
                "run_id": lineage.run_id,
                "created_at": datetime.now(UTC),
                "code_version": __version__,
            }

        version = _versioned.register(
            self.uri, SCHEMA, {"kind": "directions"}, name, row, lineage.run_id, "direction"
        )
        return Ref(name, version)

    def row(self, ref: str | Ref) -> dict[str, Any]:
        """The catalog row of ``name@version`` (latest if unpinned)."""
        ref = parse_ref(ref, "direction") if isinstance(ref, str) else ref
        return _versioned.get_row(self.uri, ref, "direction")

    def get(self, ref: str | Ref) -> tuple[Direction, DirectionLineage, Ref]:
        """Load a direction with its lineage and pinned reference."""
        row = self.row(ref)
        direction = _direction(
            json.loads(row["card_json"]), np.asarray(row["vector"], dtype=np.float32)
        )
        return direction, _row_to_lineage(row), Ref(row["name"], row["version"])

    def pin(self, refs: Sequence[str], space: Snapshot) -> list[str]:
        """Pin each ``name`` / ``name@v`` to ``name@v``, refusing directions of another space.

        A direction belongs to the snapshot's latent space when its d and encoder weights
        (or, without hashes, its model ref) match the latent table's card.
        """
        if not refs:
            raise InvalidInputError(
                "no direction given; pass at least one --direction NAME@VERSION"
            )
        pinned = []
        for ref in refs:
            direction, lineage, exact = self.get(ref)
            _check_same_space(direction, lineage, str(exact), space.card, space.name)
            pinned.append(str(exact))
        if len(set(pinned)) != len(pinned):
            raise InvalidInputError(f"directions {pinned} repeat one version; list each once")
        return pinned

    def list(self, *, cards: bool = False) -> pa.Table:
        """Every registered direction version (empty when none), vectors (and cards unless
        ``cards``) left out."""
        left_out = ("vector",) if cards else ("vector", "card_json")
        if not _delta.exists(self.uri):
            return pa.schema([f for f in SCHEMA if f.name not in left_out]).empty_table()
        cols = [n for n in SCHEMA.names if n not in left_out]
        table = _delta.arrow_dataset(_delta.open_table(self.uri)).to_table(columns=cols)
        return table.sort_by([("name", "ascending"), ("version", "ascending")])

    def latest(self, model: str | None) -> dict[str, Direction]:
        """Latest version of every direction fitted in ``model``'s latent space, by ``name@v``."""
        if not _delta.exists(self.uri) or model is None:
            return {}

        rows = _delta.read(
            _delta.open_table(self.uri),
            ["name", "version", "vector", "card_json"],
            {"model": model},
        ).to_pylist()
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row["version"] > latest.get(row["name"], {"version": 0})["version"]:
                latest[row["name"]] = row
        return {
            f"{r['name']}@{r['version']}": _direction(
                json.loads(r["card_json"]), np.asarray(r["vector"], np.float32)
            )
            for r in latest.values()
        }

    def export(self, ref: str | Ref, folder: Path) -> Path:
        """Write ``name@v.safetensors`` (vector + card in its metadata) into ``folder``."""
        direction, lineage, pinned = self.get(ref)
        if folder.exists() and not folder.is_dir():
            raise InvalidInputError(
                f"--out {folder} is a file; pass a folder to write {pinned}.safetensors into"
            )
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{pinned.name}@{pinned.version}.safetensors"
        meta = {
            "card": json.dumps(direction.to_card(), sort_keys=True, default=str),
            "lineage": json.dumps(lineage.__dict__, sort_keys=True, default=str),
            "ref": str(pinned),
        }
        save_file({"vector": torch.from_numpy(direction.vector.copy())}, str(path), metadata=meta)
        return path

    def import_file(self, path: Path, name: str | None = None, run_id: str | None = None) -> Ref:
        """Register a direction exported by :meth:`export` (from any store) under ``name``."""
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
            vector = load_file(str(path))["vector"].numpy()
        except (SafetensorError, OSError, KeyError) as exc:
            raise CorruptArtifactError(
                f"{path} is not a latentops direction file ({exc}); export one with "
                "`latentops directions export NAME@V`"
            ) from exc
        if "card" not in meta:
            raise InvalidInputError(f"{path} has no direction card in its metadata")
        try:
            direction = _direction(json.loads(meta["card"]), vector)
            origin = json.loads(meta.get("lineage", "{}"))
            lineage = DirectionLineage(
                space=origin.get("space") or "imported",
                model=origin.get("model"),
                model_sha256=origin.get("model_sha256"),
                label_spec=origin.get("label_spec"),
                parent=f"imported:{meta.get('ref', path.name)}",
                run_id=run_id,
            )
        except LatentOpsError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorruptArtifactError(
                f"{path} has an unreadable direction card or lineage ({type(exc).__name__}: "
                f"{exc}); export the direction again with `latentops directions export NAME@V`"
            ) from None
        return self.register(
            name or meta.get("ref", "imported").partition("@")[0], direction, lineage
        )
