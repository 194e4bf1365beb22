"""Datasets that stream batches with stable item ids and ground-truth factor columns."""

from latentops.data.arrays import ArrayDataset
from latentops.data.base import Batch, Dataset
from latentops.data.digits import Digits
from latentops.data.dsprites import DSprites
from latentops.data.files import load_array_file, open_data_file
from latentops.data.images import ImageFolder, ImageParquet
from latentops.data.prefetch import prefetch, prefetch_map
from latentops.data.registry import get_dataset, list_datasets
from latentops.data.reviews import Reviews
from latentops.data.text import TextDataset, load_text_file

__all__ = [
    "ArrayDataset",
    "Batch",
    "DSprites",
    "Dataset",
    "Digits",
    "ImageFolder",
    "ImageParquet",
    "get_dataset",
    "list_datasets",
    "load_array_file",
    "open_data_file",
    "prefetch",
    "prefetch_map",
    "Reviews",
    "TextDataset",
    "load_text_file",
]
