"""Load user images or embeddings ("bring your own latents") from a .npy or Parquet file.

``open_data_file`` is the one door for a user path: it also takes image folders and Parquet
columns of encoded image bytes (data/images.py).

.npy holds only x and is memory-mapped. Parquet holds one list column (a vector, or a flattened
image) plus scalar label columns and optionally an id column (``item_id`` unless another is
named); it is read row group by row group into one preallocated array, so peak memory is the
result plus one record batch. Ids are unique non-null integers: string keys are not ids (keep
them as a label column next to an integer id column).

A Parquet file's arrays are kept for the process's last file (``_last``), keyed by the file's
identity and the options, so one import or encode flow reads it once, not once per task and
chunk (with 65,536-row chunks a large file was read again per chunk); the encode flow releases
it when it ends (``release_array_files``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from latentops.data.arrays import ArrayDataset
from latentops.data.base import Dataset
from latentops.data.images import ImageFolder, ImageParquet, is_binary
from latentops.errors import CorruptArtifactError, InvalidInputError, NotFoundError

_PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_ID_COLUMN = "item_id"  # a Parquet column of this name holds the ids unless told otherwise
_last: dict[tuple, ArrayDataset] = {}  # at most one entry: file identity + options -> dataset
_last_lock = threading.Lock()


def load_array_file(
    path: str | Path,
    *,
    vector_column: str | None = None,
    image_column: str | None = None,
    label_columns: Sequence[str] | None = None,
    name: str | None = None,
    id_column: str | None = None,
    image_shape: tuple[int, int, int] | None = None,
) -> ArrayDataset:
    """Open a .npy array or a Parquet table of vectors/images (+ labels) as an ArrayDataset."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no file at {str(path)!r}; check the path (.npy or .parquet)")
    name = name or path.stem
    if path.suffix == ".npy":
        extras = {
            "vector_column": vector_column,
            "image_column": image_column,
            "label_columns": label_columns,
            "id_column": id_column,
            "image_shape": image_shape,
        }
        given = sorted(k for k, v in extras.items() if v is not None)
        if given:
            raise InvalidInputError(
                f"{path.name}: a .npy file holds only the x array, so {given} do not apply; "
                "store labels and ids in a Parquet file instead"
            )
        return ArrayDataset(_open_npy(path), None, name)
    if path.suffix in _PARQUET_SUFFIXES:
        stat = path.stat()
        columns = tuple(label_columns) if label_columns is not None else None
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        key += (vector_column, image_column, columns, name, id_column, image_shape)
        with _last_lock:  # concurrent chunk tasks wait for one read instead of each reading
            if key not in _last:
                _last.clear()  # drop the previous file's arrays before reading this one
                _last[key] = _load_parquet(
                    path, vector_column, image_column, label_columns, name, id_column, image_shape
                )
            return _last[key]
    raise InvalidInputError(
        f"{path.name}: unsupported file type {path.suffix!r}; use .npy or {_PARQUET_SUFFIXES}"
    )


def open_data_file(
    path: str | Path,
    *,
    vector_column: str | None = None,
    image_column: str | None = None,
    label_columns: Sequence[str] | None = None,
    name: str | None = None,
    id_column: str | None = None,
    image_shape: tuple[int, int, int] | None = None,
    labels: str | None = None,
) -> Dataset:
    """A dataset from a user path: an image folder, a Parquet file or a .npy array.

    A folder of PNG/JPEG files (``labels``: an optional CSV, see ``ImageFolder``); a Parquet
    file whose image column is binary (encoded PNG/JPEG bytes); anything else as in
    ``load_array_file`` (vectors, flattened images).
    """
    path = Path(path)
    given = {
        "vector_column": vector_column,
        "image_column": image_column,
        "label_columns": label_columns,
        "id_column": id_column,
        "image_shape": image_shape,
    }
    if path.is_dir():
        extra = sorted(k for k, v in given.items() if v is not None)
        if extra:
            raise InvalidInputError(
                f"{path.name}/ is an image folder, so {extra} do not apply; its labels come "
                "from --labels FILE.csv or from subfolder names"
            )
        return ImageFolder(path, labels=labels, name=name)
    if labels is not None:
        raise InvalidInputError(
            f"{path.name}: a labels CSV applies to image folders; keep a file's labels in its "
            "own columns (--label-columns)"
        )
    column = _binary_image_column(path, image_column, vector_column)
    if column is not None:
        if image_shape is not None:
            raise InvalidInputError(
                f"{path.name}: column {column!r} holds encoded images, whose size is in the "
                "bytes; leave out image_shape"
            )
        return ImageParquet(
            path, image_column=column, label_columns=label_columns, id_column=id_column, name=name
        )
    return load_array_file(path, **given, name=name)


def release_array_files() -> None:
    """Forget the last Parquet file's arrays (a flow that read one calls this when it ends)."""
    with _last_lock:
        _last.clear()


def _binary_image_column(
    path: Path, image_column: str | None, vector_column: str | None
) -> str | None:
    """The Parquet column of encoded images, when the file has one to use (else None)."""
    if path.suffix not in _PARQUET_SUFFIXES or vector_column is not None or not path.is_file():
        return None
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError):
        return None  # load_array_file says what is wrong with the file
    if image_column is not None:
        named = image_column in schema.names and is_binary(schema.field(image_column))
        return image_column if named else None
    binary = [f.name for f in schema if is_binary(f)]
    lists = [f.name for f in schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)]
    if len(binary) > 1 and not lists:
        raise InvalidInputError(
            f"{path.name}: found binary columns {binary}; say which holds the images with "
            "--image-column"
        )
    return binary[0] if len(binary) == 1 and not lists else None


def _open_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CorruptArtifactError(
            f"{path.name} cannot be read as a numeric .npy array ({exc}); "
            "re-save it with np.save(path, x) from a numeric array"
        ) from exc


def _pick_columns(
    schema: pa.Schema,
    path: Path,
    vector_column: str | None,
    image_column: str | None,
    label_columns: Sequence[str] | None,
    id_column: str | None,
) -> tuple[str, list[str], str | None]:
    """The data column, the label columns and the id column (``item_id`` when present)."""
    names = schema.names
    list_cols = [
        f.name
        for f in schema
        if pa.types.is_list(f.type)
        or pa.types.is_large_list(f.type)
        or pa.types.is_fixed_size_list(f.type)
    ]
    if vector_column is not None and image_column is not None:
        raise InvalidInputError(
            f"{path.name}: pass vector_column or image_column, not both "
            f"({vector_column!r}, {image_column!r})"
        )
    x_col = vector_column or image_column
    if x_col is None:
        if len(list_cols) != 1:
            raise InvalidInputError(
                f"{path.name}: found list columns {list_cols}; say which holds the data with "
                "vector_column=... (embeddings) or image_column=... (flattened pixels)"
            )
        x_col = list_cols[0]
    if id_column is None and DEFAULT_ID_COLUMN in names and DEFAULT_ID_COLUMN != x_col:
        id_column = DEFAULT_ID_COLUMN
    labels = (
        [c for c in names if c not in list_cols and c != id_column]
        if label_columns is None
        else list(label_columns)
    )
    for col in [x_col, *labels, *([id_column] if id_column else [])]:
        if col not in names:
            raise NotFoundError(f"{path.name} has no column {col!r}; its columns are {names}")
    if id_column is not None and id_column in labels:
        raise InvalidInputError(
            f"{path.name}: column {id_column!r} holds the item ids; leave it out of the label "
            "columns"
        )
    if id_column is not None:
        _check_id_type(schema.field(id_column), path)
    if x_col not in list_cols:
        raise InvalidInputError(
            f"{path.name}: column {x_col!r} has type {schema.field(x_col).type}, not a list of "
            "numbers; store each vector or flattened image as a list<float> value"
        )
    return x_col, labels, id_column


def _check_id_type(field: pa.Field, path: Path) -> None:
    """Item ids are integers; say how to get some when the column holds anything else."""
    if pa.types.is_integer(field.type):
        return
    if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
        raise InvalidInputError(
            f"{path.name}: id column {field.name!r} holds strings; item ids must be unique "
            "integers: add an integer id column (e.g. df['item_id'] = range(len(df))) and keep "
            "the strings as a label column, or name an integer column with --id-column"
        )
    raise InvalidInputError(
        f"{path.name}: id column {field.name!r} has type {field.type}; item ids must be unique "
        "non-null integers: cast it to int64 or name another column with --id-column"
    )


def _image_shape(length: int, given: tuple[int, int, int] | None, path: Path) -> tuple[int, ...]:
    if given is not None:
        shape = tuple(int(s) for s in given)
        if len(shape) != 3 or math.prod(shape) != length:
            raise InvalidInputError(
                f"{path.name}: image_shape={given} does not hold {length} values per row; "
                "pass (C, H, W) with C*H*W equal to the list length"
            )
        return shape
    for channels in (1, 3):
        side = math.isqrt(length // channels)
        if channels * side * side == length:
            return (channels, side, side)
    raise InvalidInputError(
        f"{path.name}: {length} values per image is not a square 1- or 3-channel image; "
        "pass image_shape=(C, H, W)"
    )


def _list_values(arr: pa.Array, col: str, path: Path) -> tuple[np.ndarray, int]:
    """Flatten one record batch of a list column into (rows, length) after checking it."""
    if arr.null_count:
        raise InvalidInputError(
            f"{path.name}: column {col!r} has {arr.null_count} null rows; drop them"
        )
    lengths = arr.value_lengths().to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != lengths[0]).any():
        raise InvalidInputError(
            f"{path.name}: column {col!r} has rows of different lengths "
            f"({int(lengths.min())}..{int(lengths.max())}); every vector must have the same d"
        )
    flat = arr.flatten()
    if flat.null_count or not (pa.types.is_floating(flat.type) or pa.types.is_integer(flat.type)):
        raise InvalidInputError(
            f"{path.name}: column {col!r} must hold non-null numbers, got {flat.type} "
            f"with {flat.null_count} nulls"
        )
    width = int(lengths[0]) if len(lengths) else 0
    return flat.to_numpy(zero_copy_only=False).reshape(len(arr), width), width


def _load_parquet(
    path: Path,
    vector_column: str | None,
    image_column: str | None,
    label_columns: Sequence[str] | None,
    name: str,
    id_column: str | None,
    image_shape: tuple[int, int, int] | None,
) -> ArrayDataset:
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise CorruptArtifactError(
            f"{path.name} cannot be read as Parquet ({exc}); re-export it with pyarrow or pandas"
        ) from exc
    x_col, labels, id_column = _pick_columns(
        schema, path, vector_column, image_column, label_columns, id_column
    )
    wanted = [x_col, *labels, *([id_column] if id_column else [])]
    n = pf.metadata.num_rows
    x: np.ndarray | None = None
    parts: dict[str, list[np.ndarray]] = {c: [] for c in wanted[1:]}
    row = 0
    try:
        for batch in pf.iter_batches(columns=wanted):
            values, width = _list_values(batch.column(x_col), x_col, path)  # (b, L)
            if x is None:
                # keep integer pixels compact (uint8 -> /255 per batch); vectors become float32
                keep = image_column is not None and values.dtype.kind in "iu"
                x = np.empty((n, width), dtype=values.dtype if keep else np.float32)
            elif width != x.shape[1]:
                raise InvalidInputError(
                    f"{path.name}: column {x_col!r} changes length from {x.shape[1]} to {width}; "
                    "every vector must have the same d"
                )
            x[row : row + len(values)] = values
            row += len(values)
            for c in parts:
                column = batch.column(c)
                if c == id_column and column.null_count:
                    raise InvalidInputError(
                        f"{path.name}: id column {c!r} has null values; every row needs a "
                        "unique integer id: fill or drop those rows"
                    )
                parts[c].append(column.to_numpy(zero_copy_only=False))
    except pa.ArrowException as exc:
        raise CorruptArtifactError(f"{path.name}: Parquet data cannot be decoded ({exc})") from exc
    if x is None or n == 0:
        raise InvalidInputError(f"{path.name} has no rows; write at least one row")
    cols = {c: np.concatenate(p) for c, p in parts.items()}
    ids = cols.pop(id_column) if id_column else None
    if image_column is not None:
        x = x.reshape(n, *_image_shape(x.shape[1], image_shape, path))
    elif image_shape is not None:
        raise InvalidInputError(
            f"{path.name}: image_shape applies only to images; pass image_column={x_col!r}"
        )
    if ids is not None and ids.dtype == np.uint64 and ids.max() > np.iinfo(np.int64).max:
        raise InvalidInputError(
            f"{path.name}: id column {id_column!r} has ids above {np.iinfo(np.int64).max} "
            "(item ids are int64); renumber them"
        )
    return ArrayDataset(x, cols, name, item_ids=ids)
