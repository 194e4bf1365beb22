"""Images you already have: a folder of PNG/JPEG files, or a Parquet column of encoded bytes.

Item ids must survive a growing dataset, so positions in sorted order are not ids:
- a folder's item id is the sha256 of the image's relative path (POSIX, UTF-8), first 8 bytes,
  shifted to int63: adding or removing files never renumbers the others;
- a Parquet file's ids come from its integer id column (``item_id`` unless named), else they
  are row positions (then only appending rows keeps them stable).

Every item also carries ``sha256`` (the digest of its encoded bytes) and, for folders,
``path`` (the relative path) as metadata columns, so SQL can show them and encode can refuse
to keep a latent whose file has changed. Folder labels come from a labels CSV (a ``path``
column plus label columns) or, without one, from subfolder names: when every image lies in a
subfolder, its first folder is its ``class`` (int64 when every folder name is an integer).

Nothing holds pixels beyond the batches in flight: opening reads each file once (digest and
header check, remembered per file by size and mtime), and ``batches`` decodes on worker threads
ahead of the consumer.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch
from PIL import Image

from latentops.data._fingerprint import arrays_fingerprint
from latentops.data.arrays import _check_labels
from latentops.data.base import Batch, Dataset
from latentops.data.prefetch import prefetch_map
from latentops.errors import CorruptArtifactError, InvalidInputError, NotFoundError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_FORMATS = ("PNG", "JPEG")
_GRAY = frozenset({"1", "L", "LA", "I", "I;16", "F"})
METADATA_COLUMNS = ("path", "sha256")  # per-item facts, not labels: no factor size
_Header = tuple[str, tuple[int, int], bool]  # (sha256 hex, (width, height), colour)
_seen: dict[tuple[str, int, int, int], _Header] = {}  # file identity -> header, per process
_seen_files: dict[tuple[str, int, int, int], list[_Header]] = {}  # Parquet column -> headers
_WORKERS = max(1, min(8, os.cpu_count() or 1))


def path_item_id(rel: str) -> int:
    """The stable int63 item id of an image at relative POSIX path ``rel``."""
    return int.from_bytes(hashlib.sha256(rel.encode()).digest()[:8], "big") >> 1


def _inspect(data: bytes, where: str) -> _Header:
    """Digest and header of one encoded image; refuse anything Pillow cannot verify."""
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as img:
            size, colour = img.size, img.mode not in _GRAY
            img.verify()  # checks the stream (PNG CRCs, truncation) without decoding pixels
    except Image.UnidentifiedImageError:
        raise CorruptArtifactError(
            f"{where} is not a PNG or JPEG image (unreadable or corrupt); re-export it or remove it"
        ) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptArtifactError(
            f"{where} is not a readable PNG/JPEG image ({exc}); re-export it or remove it"
        ) from None
    return hashlib.sha256(data).hexdigest(), size, colour


def _decode(data: bytes, where: str, channels: int, size: tuple[int, int]) -> np.ndarray:
    """Pixels of one encoded image as (C, H, W) uint8."""
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as img:
            mode = "L" if channels == 1 else "RGB"
            px = np.asarray(img if img.mode == mode else img.convert(mode))  # (H, W[, 3])
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptArtifactError(
            f"{where} cannot be decoded ({exc}); re-export it or remove it"
        ) from None
    if px.shape[:2] != (size[1], size[0]):
        raise InvalidInputError(
            f"{where} is {px.shape[1]}x{px.shape[0]} now but was {size[0]}x{size[1]} when the "
            "dataset was opened; open the dataset again"
        )
    return px[None] if px.ndim == 2 else px.transpose(2, 0, 1)


class _EncodedImages(Dataset):
    """Items are encoded image bytes; subclasses say where the bytes of a row come from."""

    content_column = "sha256"

    def _setup(
        self,
        name: str,
        ids: np.ndarray,
        headers: Sequence[_Header],
        wheres: Sequence[str],
        labels: dict[str, np.ndarray],
    ) -> None:
        """Check sizes, ids and labels of rows in source order; set the Dataset attributes."""
        sizes = {h[1] for h in headers}
        if len(sizes) > 1:
            first = headers[0][1]
            odd = next(i for i, h in enumerate(headers) if h[1] != first)
            raise InvalidInputError(
                f"{name}: images differ in size: {wheres[0]} is {first[0]}x{first[1]} but "
                f"{wheres[odd]} is {headers[odd][1][0]}x{headers[odd][1][1]} "
                f"({len(sizes)} sizes in all); resize them to one size or move the others out"
            )
        self._size = headers[0][1]
        self._channels = 3 if any(h[2] for h in headers) else 1  # gray converts to RGB exactly
        self._wheres = list(wheres)
        n = len(ids)
        self._order = np.argsort(ids, kind="stable")  # (N,) row of each sorted id
        self._sorted = ids[self._order]
        if n > 1 and (np.diff(self._sorted) == 0).any():
            dup = self._sorted[1:][np.diff(self._sorted) == 0][:5].tolist()
            raise InvalidInputError(f"{name}: item ids must be unique, e.g. {dup} repeat")
        digests = np.array([h[0] for h in headers], dtype=object)
        self._labels = {**_check_labels(labels, n, name), "sha256": digests}
        self.name = name
        self.n_items = n
        self.x_shape = (self._channels, self._size[1], self._size[0])
        self.factor_names = tuple(self._labels)
        self.factor_sizes = {
            k: len(set(v.tolist()))
            for k, v in self._labels.items()
            if k not in METADATA_COLUMNS and v.dtype.kind in "iubUSO"
        }
        self.fingerprint = arrays_fingerprint(
            f"images|{self.x_shape}",
            {"item_id": ids, **{f"label:{k}": v for k, v in self._labels.items()}},
        )

    def item_ids(self) -> np.ndarray:
        """Sorted item ids."""
        return self._sorted

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        return self._order[np.searchsorted(self._sorted, ids)]

    def factors(self, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        """Label and metadata columns of ``item_ids`` (no image is read)."""
        rows = self._rows(self.check_item_ids(item_ids))
        return {k: v[rows] for k, v in self._labels.items()}

    @abstractmethod
    def _read(self, rows: np.ndarray) -> list[bytes]:
        """Encoded bytes of source rows ``rows``."""

    def _load(self, item_ids: np.ndarray) -> torch.Tensor:
        rows = self._rows(item_ids)
        x = np.stack(
            [
                _decode(data, self._wheres[r], self._channels, self._size)
                for r, data in zip(rows, self._read(rows), strict=True)
            ]
        )  # (B, C, H, W) uint8
        return torch.from_numpy(x.astype(np.float32) / np.float32(255.0))

    def batches(self, batch_size: int, item_ids: np.ndarray | None = None) -> Iterator[Batch]:
        """Like Dataset.batches, decoding the next batches on worker threads meanwhile."""
        chunks = self.id_chunks(batch_size, item_ids)
        yield from prefetch_map(
            lambda ids: Batch(item_id=ids, x=self._load(ids), factors=self.factors(ids)),
            chunks,
            workers=_WORKERS,
        )


class ImageFolder(_EncodedImages):
    """Every PNG/JPEG under a folder (recursively), one item per file."""

    def __init__(
        self, path: str | Path, *, labels: str | Path | None = None, name: str | None = None
    ) -> None:
        root = Path(path)
        if not root.is_dir():
            raise NotFoundError(f"no folder at {str(root)!r}; pass a folder of PNG/JPEG images")
        self.root = root
        rels = _list_images(root)
        if not rels:
            raise InvalidInputError(
                f"{root} holds no {'/'.join(IMAGE_SUFFIXES)} files; put images in it "
                "(subfolders name their class)"
            )
        self._rels = rels
        self._resolved = str(root.resolve())
        # reading + hashing + verifying each file overlaps on threads (sha256 and zlib drop the GIL)
        headers = list(prefetch_map(self._header, rels, workers=_WORKERS))
        columns = _csv_labels(Path(labels), rels) if labels is not None else _folder_labels(rels)
        columns["path"] = np.array(rels, dtype=object)
        ids = np.array([path_item_id(rel) for rel in rels], dtype=np.int64)
        self._setup(
            name or root.resolve().name, ids, headers, [str(root / r) for r in rels], columns
        )

    def _header(self, rel: str) -> _Header:
        """A file's header, read once per process while its size and mtime stay the same."""
        path = os.path.join(self._resolved, rel)  # str paths: pathlib costs more than a read
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in _seen:
            with open(path, "rb") as f:
                _seen[key] = _inspect(f.read(), path)
        return _seen[key]

    def _read(self, rows: np.ndarray) -> list[bytes]:
        out = []
        for r in rows:
            with open(os.path.join(self._resolved, self._rels[r]), "rb") as f:
                out.append(f.read())
        return out


def _list_images(root: Path) -> list[str]:
    """Relative POSIX paths of the PNG/JPEG files under ``root``, sorted; hidden ones skipped."""
    out = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        prefix = Path(folder).relative_to(root).as_posix()
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                out.append(name if prefix == "." else f"{prefix}/{name}")
    return sorted(out)


def _folder_labels(rels: list[str]) -> dict[str, np.ndarray]:
    """``class`` = first folder of each image, when every image lies in a subfolder."""
    if not all("/" in rel for rel in rels):
        return {}
    names = [rel.split("/", 1)[0] for rel in rels]
    if all(n.isdigit() for n in names):
        return {"class": np.array([int(n) for n in names], dtype=np.int64)}
    return {"class": np.array(names, dtype=object)}


def _csv_labels(csv: Path, rels: list[str]) -> dict[str, np.ndarray]:
    """Label columns from a CSV with a ``path`` column; every image needs exactly one row."""
    if not csv.is_file():
        raise NotFoundError(f"no labels file at {str(csv)!r}; pass a CSV with a path column")
    try:
        table = pacsv.read_csv(csv)
    except (pa.ArrowException, OSError) as exc:
        raise CorruptArtifactError(f"{csv.name} cannot be read as CSV ({exc})") from None
    if "path" not in table.column_names:
        raise InvalidInputError(
            f"{csv.name} has columns {table.column_names} but no 'path' column; add one with "
            "each image's path relative to the folder"
        )
    paths = [str(p) for p in table["path"].to_pylist()]
    row = {p: i for i, p in enumerate(paths)}
    if len(row) != len(paths):
        dup = next(p for p in paths if paths.count(p) > 1)
        raise InvalidInputError(f"{csv.name}: path {dup!r} has more than one row; keep one")
    missing = [r for r in rels if r not in row]
    extra = sorted(set(paths) - set(rels))
    if missing or extra:
        what = (
            f"no row for image {missing[0]!r} ({len(missing)} in all)"
            if missing
            else f"row {extra[0]!r} names no image in the folder ({len(extra)} in all)"
        )
        raise InvalidInputError(f"{csv.name}: {what}; give every image exactly one row")
    take = pa.array([row[r] for r in rels])
    return {
        c: table[c].take(take).to_numpy(zero_copy_only=False)
        for c in table.column_names
        if c != "path"
    }


def is_binary(field: pa.Field) -> bool:
    """True for a Parquet column of encoded bytes (an image column of ImageParquet)."""
    return pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)


class ImageParquet(_EncodedImages):
    """A Parquet file whose binary column holds encoded PNG/JPEG images, one row per item."""

    def __init__(
        self,
        path: str | Path,
        *,
        image_column: str,
        label_columns: Sequence[str] | None = None,
        id_column: str | None = None,
        name: str | None = None,
    ) -> None:
        path = Path(path)
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise CorruptArtifactError(
                f"{path.name} cannot be read as Parquet ({exc}); re-export it with pyarrow"
            ) from None
        schema = self._file.schema_arrow
        if image_column not in schema.names or not is_binary(schema.field(image_column)):
            raise InvalidInputError(
                f"{path.name}: image column {image_column!r} must be a binary column of "
                f"encoded PNG/JPEG bytes; its columns are {schema.names}"
            )
        if id_column is None and "item_id" in schema.names:
            id_column = "item_id"
        labels = (
            [c for c in schema.names if c not in (image_column, id_column)]
            if label_columns is None
            else list(label_columns)
        )
        for col in [*labels, *([id_column] if id_column else [])]:
            if col not in schema.names:
                raise NotFoundError(
                    f"{path.name} has no column {col!r}; its columns are {schema.names}"
                )
        if image_column in labels or (id_column is not None and id_column in labels):
            raise InvalidInputError(
                f"{path.name}: the image and id columns cannot also be label columns; "
                "leave them out of --label-columns"
            )
        if id_column is not None and not pa.types.is_integer(schema.field(id_column).type):
            raise InvalidInputError(
                f"{path.name}: id column {id_column!r} has type {schema.field(id_column).type}; "
                "item ids must be unique integers: name an integer column with --id-column"
            )
        self.path, self._column = path, image_column
        self._group_start = np.cumsum(
            [0]
            + [self._file.metadata.row_group(i).num_rows for i in range(self._file.num_row_groups)]
        )  # (G + 1,) first row of each row group
        self._cache: tuple[int, pa.Array] | None = None  # the last row group read
        self._lock = threading.Lock()
        headers = self._headers()
        wheres = [f"{path.name} row {i}" for i in range(len(headers))]
        parts: dict[str, list[np.ndarray]] = {
            c: [] for c in [*labels, *([id_column] if id_column else [])]
        }
        for batch in self._file.iter_batches(columns=list(parts)) if parts else ():
            for c in parts:
                if c == id_column and batch.column(c).null_count:
                    raise InvalidInputError(
                        f"{path.name}: id column {c!r} has nulls; fill or drop those rows"
                    )
                parts[c].append(batch.column(c).to_numpy(zero_copy_only=False))
        if not headers:
            raise InvalidInputError(f"{path.name} has no rows; write at least one row")
        cols = {c: np.concatenate(p) for c, p in parts.items()}
        ids = (
            cols.pop(id_column).astype(np.int64)
            if id_column
            else np.arange(len(headers), dtype=np.int64)
        )
        self._setup(name or path.stem, ids, headers, wheres, cols)

    def _headers(self) -> list[_Header]:
        """Every row's header, read once per process while the file's size and mtime hold."""
        st = self.path.stat()
        key = (f"{self.path.resolve()}::{self._column}", st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in _seen_files:
            headers = []
            for batch in self._file.iter_batches(columns=[self._column]):
                for value in batch.column(0):
                    where = f"{self.path.name} row {len(headers)}"
                    data = value.as_py()
                    if data is None:
                        raise InvalidInputError(
                            f"{where}: column {self._column!r} is null; drop the row"
                        )
                    headers.append(_inspect(data, where))
            _seen_files[key] = headers
        return _seen_files[key]

    def _read(self, rows: np.ndarray) -> list[bytes]:
        out = []
        for r in rows:
            group = int(np.searchsorted(self._group_start, r, side="right")) - 1
            out.append(self._group(group)[int(r - self._group_start[group])].as_py())
        return out

    def _group(self, group: int) -> pa.Array:
        """The image column of one row group; batches in file order reuse the last one read."""
        with self._lock:  # worker threads share the file handle and the one-group cache
            if self._cache is None or self._cache[0] != group:
                table = self._file.read_row_group(group, columns=[self._column])
                self._cache = (group, table.column(0).combine_chunks())
            return self._cache[1]
