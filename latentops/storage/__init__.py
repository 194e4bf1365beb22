"""Storage: the only package that touches files (Delta tables, safetensors, DuckDB)."""

from latentops.storage.catalog import DirectionCatalog, DirectionLineage
from latentops.storage.latents import LatentTable, Lineage
from latentops.storage.models import ModelRegistry
from latentops.storage.store import Store

__all__ = [
    "DirectionCatalog",
    "DirectionLineage",
    "LatentTable",
    "Lineage",
    "ModelRegistry",
    "Store",
]
