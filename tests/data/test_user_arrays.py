"""User data: ArrayDataset and .npy / Parquet loading, including bad files and shapes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from latentops.data import ArrayDataset, get_dataset, list_datasets, load_array_file
from latentops.errors import CorruptArtifactError, InvalidInputError, NotFoundError

RNG = np.random.default_rng(0)


def _collect(ds, batch_size=7, ids=None):
    out = list(ds.batches(batch_size, ids))
    return (
        np.concatenate([b.item_id for b in out]),
        torch.cat([b.x for b in out]),
        {k: np.concatenate([b.factors[k] for b in out]) for k in out[0].factors},
    )


def test_embeddings_round_trip_with_labels():
    z = RNG.normal(size=(20, 5))
    ds = ArrayDataset(z, {"y": np.arange(20) % 3, "score": RNG.normal(size=20)}, name="emb")
    assert ds.x_shape == (5,) and ds.n_items == 20 and not ds.is_images
    assert ds.factor_names == ("y", "score")
    assert ds.factor_sizes == {"y": 3}  # float labels are continuous: no size
    ids, x, f = _collect(ds)
    assert np.array_equal(ids, np.arange(20))
    assert x.dtype == torch.float32 and np.allclose(x.numpy(), z.astype(np.float32))
    assert np.array_equal(f["y"], np.arange(20) % 3)


def test_images_uint8_are_scaled_and_grayscale_gets_a_channel():
    img = RNG.integers(0, 256, size=(6, 4, 4), dtype=np.uint8)
    ds = ArrayDataset(img)
    assert ds.x_shape == (1, 4, 4) and ds.is_images
    _, x, _ = _collect(ds)
    assert torch.allclose(x[:, 0], torch.from_numpy(img / 255.0).float())


def test_custom_item_ids_select_the_right_rows():
    z = np.arange(12, dtype=np.float32).reshape(4, 3)
    ds = ArrayDataset(z, {"k": np.array([10, 20, 30, 40])}, item_ids=np.array([7, 3, 9, 1]))
    assert np.array_equal(ds.item_ids(), [1, 3, 7, 9])
    (batch,) = ds.batches(10, np.array([9, 7]))
    assert np.array_equal(batch.x.numpy(), z[[2, 0]])
    assert np.array_equal(batch.factors["k"], [30, 10])
    with pytest.raises(NotFoundError, match=r"item_id\(s\) are not in dataset"):
        ds.factors(np.array([2]))


def test_fingerprint_hashes_content():
    z = RNG.normal(size=(10, 4)).astype(np.float32)
    a = ArrayDataset(z, {"y": np.zeros(10)}, name="a")
    assert a.fingerprint == ArrayDataset(z.copy(), {"y": np.zeros(10)}, name="b").fingerprint
    z2 = z.copy()
    z2[3, 1] += 1e-3
    assert a.fingerprint != ArrayDataset(z2, {"y": np.zeros(10)}).fingerprint
    assert a.fingerprint != ArrayDataset(z, {"y": np.ones(10)}).fingerprint
    assert a.fingerprint != ArrayDataset(z).fingerprint


def test_npy_is_memory_mapped_and_equal(tmp_path):
    z = RNG.normal(size=(50, 8)).astype(np.float32)
    np.save(tmp_path / "emb.npy", z)
    ds = load_array_file(tmp_path / "emb.npy")
    assert ds.name == "emb" and ds.fingerprint == ArrayDataset(z).fingerprint
    assert isinstance(ds._x, np.memmap)  # rows are read per batch, not loaded up front
    _, x, _ = _collect(ds, 16)
    assert torch.equal(x, torch.from_numpy(z))


def test_parquet_vectors_labels_and_ids(tmp_path):
    z = RNG.normal(size=(30, 6)).astype(np.float32)
    table = pa.table(
        {
            "id": np.arange(100, 130),
            "z": pa.array(list(z), type=pa.list_(pa.float32())),
            "label": np.arange(30) % 2,
            "name": [f"n{i}" for i in range(30)],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=8)
    ds = load_array_file(tmp_path / "t.parquet", id_column="id")
    assert ds.factor_names == ("label", "name")
    ids, x, f = _collect(ds)
    assert np.array_equal(ids, np.arange(100, 130))
    assert torch.equal(x, torch.from_numpy(z))
    assert list(f["name"][:2]) == ["n0", "n1"]
    only = load_array_file(tmp_path / "t.parquet", vector_column="z", label_columns=["label"])
    assert only.factor_names == ("label",) and np.array_equal(only.item_ids(), np.arange(30))
    via_registry = get_dataset("file", path=tmp_path / "t.parquet", id_column="id")
    assert via_registry.fingerprint == ds.fingerprint


def test_parquet_fixed_size_image_column(tmp_path):
    img = RNG.integers(0, 256, size=(5, 3, 4, 4), dtype=np.uint8)
    flat = pa.FixedSizeListArray.from_arrays(pa.array(img.reshape(-1)), 48)
    pq.write_table(pa.table({"px": flat, "y": np.arange(5)}), tmp_path / "img.parquet")
    ds = load_array_file(tmp_path / "img.parquet", image_column="px")
    assert ds.x_shape == (3, 4, 4)
    _, x, _ = _collect(ds)
    assert torch.allclose(x, torch.from_numpy(img / 255.0).float())
    with pytest.raises(InvalidInputError, match=r"image_shape=\(2, 4, 4\) does not hold 48"):
        load_array_file(tmp_path / "img.parquet", image_column="px", image_shape=(2, 4, 4))


def test_list_datasets_names_builtins():
    assert {"dsprites", "digits", "file"} <= set(list_datasets())


@pytest.mark.parametrize(
    "x, labels, match",
    [
        (np.zeros(5), None, r"x has shape \(5,\); expected \(N, d\) embeddings"),
        (np.zeros((0, 3)), None, "N >= 1"),
        (np.zeros((2, 1, 1, 1, 1)), None, "expected"),
        (np.array([[1.0, np.nan]]), None, r"NaN/inf \(first in row 0\)"),
        (np.full((2, 1, 2, 2), 2.0), None, r"float images must lie in \[0, 1\]"),
        (np.array([["a", "b"]]), None, "dtype <U1"),
        (np.zeros((3, 2)), {"y": np.zeros(4)}, r"label 'y' has shape \(4,\) but x has 3 rows"),
        (np.zeros((3, 2)), {"item_id": np.zeros(3)}, "reserved"),
    ],
)
def test_wrong_arrays_raise(x, labels, match):
    with pytest.raises(InvalidInputError, match=match):
        ArrayDataset(x, labels)


def test_duplicate_ids_raise():
    with pytest.raises(InvalidInputError, match="item_ids must be unique"):
        ArrayDataset(np.zeros((3, 2)), item_ids=np.array([1, 2, 1]))


def test_bad_files_raise(tmp_path):
    with pytest.raises(NotFoundError, match="no file at"):
        load_array_file(tmp_path / "missing.npy")
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file")
    with pytest.raises(CorruptArtifactError, match="cannot be read as a numeric .npy"):
        load_array_file(tmp_path / "bad.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(CorruptArtifactError, match="obj.npy cannot be read"):
        load_array_file(tmp_path / "obj.npy")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(CorruptArtifactError, match="cannot be read as Parquet"):
        load_array_file(tmp_path / "bad.parquet")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(InvalidInputError, match="unsupported file type '.csv'"):
        load_array_file(tmp_path / "x.csv")
    np.save(tmp_path / "ok.npy", np.zeros((2, 2)))
    with pytest.raises(InvalidInputError, match="holds only the x array"):
        load_array_file(tmp_path / "ok.npy", label_columns=["y"])


def test_bad_parquet_columns_raise(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table({"a": pa.array([[1.0, 2.0], [3.0]]), "b": [1, 2], "c": pa.array([[1.0], [2.0]])}),
        path,
    )
    with pytest.raises(InvalidInputError, match=r"found list columns \['a', 'c'\]"):
        load_array_file(path)
    with pytest.raises(
        NotFoundError, match=r"has no column 'zz'; its columns are \['a', 'b', 'c'\]"
    ):
        load_array_file(path, vector_column="zz")
    with pytest.raises(NotFoundError, match="has no column 'nope'"):
        load_array_file(path, vector_column="c", label_columns=["nope"])
    with pytest.raises(InvalidInputError, match="rows of different lengths"):
        load_array_file(path, vector_column="a")
    with pytest.raises(InvalidInputError, match="not a list of numbers"):
        load_array_file(path, vector_column="b")
    with pytest.raises(InvalidInputError, match="image_shape applies only to images"):
        load_array_file(path, vector_column="c", image_shape=(1, 1, 1))
    pq.write_table(pa.table({"v": pa.array([[1.0, None]])}), path)
    with pytest.raises(InvalidInputError, match="must hold non-null numbers"):
        load_array_file(path)


def test_unknown_dataset_and_option_raise():
    with pytest.raises(
        NotFoundError, match=r"unknown dataset 'mnist'; known datasets are \['digits'"
    ):
        get_dataset("mnist")
    with pytest.raises(InvalidInputError, match=r"dataset 'digits' has no option\(s\) \['size'\]"):
        get_dataset("digits", size=3)


def test_item_id_column_is_the_default_id_column(tmp_path):
    z = RNG.normal(size=(4, 3)).astype(np.float32)
    vectors = pa.array(list(z), type=pa.list_(pa.float32()))
    pq.write_table(pa.table({"item_id": [7, 3, 9, 1], "emb": vectors}), tmp_path / "t.parquet")
    ds = load_array_file(tmp_path / "t.parquet")
    assert ds.factor_names == () and not ds.positional_ids
    assert ds.item_ids().tolist() == [1, 3, 7, 9]
    ids, x, _ = _collect(ds)
    assert torch.equal(x[ids.tolist().index(7)], torch.from_numpy(z[0]))
    with pytest.raises(InvalidInputError, match="holds the item ids; leave it out"):
        load_array_file(tmp_path / "t.parquet", label_columns=["item_id"])
    pq.write_table(pa.table({"key": ["a", "b"], "emb": vectors[:2]}), tmp_path / "s.parquet")
    with pytest.raises(InvalidInputError, match="holds strings; item ids must be unique integers"):
        load_array_file(tmp_path / "s.parquet", id_column="key")
    pq.write_table(pa.table({"key": [1.0, 2.0], "emb": vectors[:2]}), tmp_path / "f.parquet")
    with pytest.raises(InvalidInputError, match="has type double; item ids must be"):
        load_array_file(tmp_path / "f.parquet", id_column="key")


@pytest.mark.parametrize(
    "values, match",
    [
        (np.arange(3).astype("datetime64[s]"), "dtype datetime64"),
        (np.array([b"a", b"b", b"c"], dtype=object), "holds bytes values"),
        (np.array([{"a": 1}] * 3, dtype=object), "holds dict values"),
        (np.array([2**63, 1, 2], dtype=np.uint64), "values above"),
        (np.array([True, None, False], dtype=object), "holds booleans and nulls"),
    ],
)
def test_labels_a_table_cannot_hold_raise(values, match):
    with pytest.raises(InvalidInputError, match=match):
        ArrayDataset(np.zeros((3, 2)), {"y": values})


def test_small_uint64_and_string_labels_are_kept():
    ds = ArrayDataset(
        np.zeros((3, 2)),
        {"n": np.array([1, 2, 3], np.uint64), "s": np.array(["a", None, "c"], dtype=object)},
    )
    f = ds.factors(np.arange(3))
    assert f["n"].dtype == np.int64 and f["s"].tolist() == ["a", None, "c"]


def test_file_dataset_without_a_path_says_which_option():
    with pytest.raises(InvalidInputError, match=r"dataset 'file' needs option\(s\) \['path'\]"):
        get_dataset("file")
