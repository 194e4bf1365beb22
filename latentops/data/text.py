"""Text datasets: items are sentences (batches of ``list[str]``), with labels and item ids.

The procedural ``reviews`` corpus and users' own text columns (CSV or Parquet,
``load_text_file``) share ``TextDataset``. Every text is checked up front: empty or
whitespace-only strings and bytes that are not UTF-8 are refused with the row that holds them,
before anything is encoded or written. The text itself is also a factor column (``text``), so
the latent table keeps each item's sentence next to its z (for SQL, kNN and retrieval decoding).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from latentops.data._fingerprint import arrays_fingerprint
from latentops.data.arrays import _check_labels
from latentops.data.base import Dataset
from latentops.errors import InvalidInputError, NotFoundError

TEXT_COLUMN = "text"  # the factor column that carries each item's text


def check_texts(texts: Sequence[object], name: str) -> np.ndarray:
    """Texts as an object array of str, refusing empty strings, nulls and non-UTF-8 bytes."""
    out = np.empty(len(texts), dtype=object)
    for row, t in enumerate(texts):
        if isinstance(t, bytes):
            try:
                t = t.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"{name}: text in row {row} is not UTF-8 ({exc.reason} at byte {exc.start}); "
                    "re-save the file as UTF-8"
                ) from None
        if not isinstance(t, str) or not t.strip():
            what = "null" if t is None else repr(t)[:40]
            raise InvalidInputError(
                f"{name}: text in row {row} is empty ({what}); every item needs a non-empty "
                "text: drop or fill those rows"
            )
        out[row] = t
    if not len(out):
        raise InvalidInputError(f"{name}: there are no texts; pass at least one row")
    return out


def refuse_training(data: Dataset) -> None:
    """Raise when ``data`` holds texts: latentops trains image and vector autoencoders only."""
    if data.x_shape == ():
        raise InvalidInputError(
            f"dataset {data.name!r} holds texts, and latentops trains image and vector "
            "autoencoders only; encode texts with the pretrained text model: latentops encode "
            f"--model minilm --dataset {data.name}"
        )


class TextDataset(Dataset):
    """Sentences with label columns and sorted int64 item ids (given, or row positions)."""

    x_shape = ()  # one item is one text

    def __init__(
        self,
        texts: Sequence[object],
        labels: Mapping[str, np.ndarray] | None = None,
        name: str = "texts",
        *,
        item_ids: np.ndarray | None = None,
        fingerprint: str | None = None,
    ) -> None:
        text = check_texts(texts, name)
        n = len(text)
        labels = _check_labels(labels, n, name)
        if TEXT_COLUMN in labels:
            raise InvalidInputError(
                f"{name}: label column {TEXT_COLUMN!r} is reserved for the texts; rename it"
            )
        ids = np.arange(n, dtype=np.int64) if item_ids is None else np.asarray(item_ids)
        if ids.shape != (n,) or ids.dtype.kind not in "iu":
            raise InvalidInputError(
                f"{name}: item ids have dtype {ids.dtype} shape {ids.shape}; expected {n} "
                "integers, one per text"
            )
        order = np.argsort(ids, kind="stable")  # rows in id order
        self._ids = ids[order].astype(np.int64)
        if n > 1 and (np.diff(self._ids) == 0).any():
            dup = self._ids[1:][np.diff(self._ids) == 0][:5].tolist()
            raise InvalidInputError(f"{name}: item ids must be unique, e.g. {dup} repeat")
        self._labels = {TEXT_COLUMN: text[order], **{k: v[order] for k, v in labels.items()}}
        self.name = name
        self.n_items = n
        self.factor_names = tuple(self._labels)
        self.factor_sizes = {
            k: len(set(v.tolist())) for k, v in labels.items() if v.dtype.kind in "iubUSO"
        }
        self.fingerprint = fingerprint or arrays_fingerprint(
            "texts", {"item_id": self._ids, **{f"label:{k}": v for k, v in self._labels.items()}}
        )

    def item_ids(self) -> np.ndarray:
        """Sorted item ids."""
        return self._ids

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._ids, ids)

    def factors(self, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        """Label columns (the text included) of ``item_ids``."""
        rows = self._rows(self.check_item_ids(item_ids))
        return {k: v[rows] for k, v in self._labels.items()}

    def texts(self, item_ids: np.ndarray) -> list[str]:
        """The texts of ``item_ids``."""
        return self._labels[TEXT_COLUMN][self._rows(self.check_item_ids(item_ids))].tolist()

    def _load(self, item_ids: np.ndarray) -> list[str]:
        return self._labels[TEXT_COLUMN][self._rows(item_ids)].tolist()


def _read_table(path: Path) -> pa.Table:
    """A CSV/TSV or Parquet file as Arrow; a CSV that is not UTF-8 is refused by line number."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if path.suffix in (".parquet", ".pq"):
            return pq.read_table(path)
        if path.suffix in (".csv", ".tsv"):
            data = path.read_bytes()
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = data[: exc.start].count(b"\n") + 1
                raise InvalidInputError(
                    f"{path.name}: line {line} is not UTF-8 ({exc.reason} at byte {exc.start}); "
                    "re-save the file as UTF-8"
                ) from None
            parse = pacsv.ParseOptions(delimiter="\t" if path.suffix == ".tsv" else ",")
            return pacsv.read_csv(pa.BufferReader(data), parse_options=parse)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"{path.name} cannot be read as a table: {exc}") from None
    raise InvalidInputError(
        f"{path.name}: unsupported file type {path.suffix!r}; use .csv, .tsv or .parquet"
    )


def load_text_file(
    path: str | Path,
    *,
    text_column: str = TEXT_COLUMN,
    id_column: str | None = None,
    label_columns: Sequence[str] | None = None,
    name: str | None = None,
) -> TextDataset:
    """Open a CSV/Parquet file's text column (+ integer ids, labels) as a TextDataset."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no file at {str(path)!r}; check the path (.csv or .parquet)")
    table = _read_table(path)
    name = name or path.stem
    wanted = [text_column, *([id_column] if id_column else []), *(label_columns or [])]
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise NotFoundError(
            f"{path.name} has no column(s) {missing}; its columns are {table.column_names}"
        )
    labels = {c: table[c].to_numpy(zero_copy_only=False) for c in label_columns or []}
    ids = table[id_column].to_numpy(zero_copy_only=False) if id_column else None
    return TextDataset(table[text_column].to_pylist(), labels, name, item_ids=ids)
