"""Storage: the only package that touches files (Delta tables, safetensors, DuckDB).

A store lives in a local folder or under ``s3://bucket/prefix`` (see ``Location``).
"""

from latentops.storage._location import Location, StoreAccessError
from latentops.storage.catalog import DirectionCatalog, DirectionLineage
from latentops.storage.latents import LatentTable, Lineage
from latentops.storage.models import ModelRegistry
from latentops.storage.snapshot import Snapshot
from latentops.storage.store import Store

__all__ = [
    "DirectionCatalog",
    "DirectionLineage",
    "LatentTable",
    "Lineage",
    "Location",
    "ModelRegistry",
    "Snapshot",
    "Store",
    "StoreAccessError",
]
