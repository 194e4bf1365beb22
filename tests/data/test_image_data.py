"""Image folders and Parquet columns of encoded images as datasets: pixels, ids, labels, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from latentops.data import ImageFolder, ImageParquet, get_dataset, open_data_file
from latentops.data.images import path_item_id
from latentops.errors import CorruptArtifactError, InvalidInputError
from tests.data._images import write_folder, write_parquet


def _all(data, batch_size=7):
    batches = list(data.batches(batch_size))
    ids = np.concatenate([b.item_id for b in batches])
    return ids, np.concatenate([b.x.numpy() for b in batches]), batches


def test_folder_streams_the_files_pixels_with_path_ids_and_folder_classes(tmp_path):
    px, y = write_folder(tmp_path / "digits", 30)
    data = get_dataset("file", path=str(tmp_path / "digits"))
    assert isinstance(data, ImageFolder) and data.x_shape == (1, 8, 8) and data.n_items == 30
    ids, x, batches = _all(data)
    assert [len(b.item_id) for b in batches] == [7, 7, 7, 7, 2]
    np.testing.assert_array_equal(ids, np.sort(ids))
    facts = data.factors(ids)
    rows = [int(p.split("/")[1][:4]) for p in facts["path"]]  # file i holds digit i
    np.testing.assert_allclose(x[:, 0], px[rows] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(facts["class"], y[rows])
    assert facts["class"].dtype == np.int64 and data.factor_sizes == {"class": len(set(y))}
    assert ids.tolist() == [path_item_id(p) for p in facts["path"]]
    assert all(0 <= i < 2**63 for i in ids.tolist())


def test_folder_ids_survive_new_files_and_a_changed_file_changes_the_digest(tmp_path):
    root = tmp_path / "digits"
    write_folder(root, 12)
    before = ImageFolder(root)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "0" / "0000-new.png")
    grown = ImageFolder(root)
    assert set(before.item_ids()) < set(grown.item_ids()) and grown.n_items == 13
    assert grown.fingerprint != before.fingerprint
    old = before.factors(before.item_ids())
    new = grown.factors(before.item_ids())  # the same ids name the same files
    assert list(old["path"]) == list(new["path"]) and list(old["sha256"]) == list(new["sha256"])
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(root / "0" / "0000.png")
    changed = ImageFolder(root)
    i = int(np.flatnonzero(old["path"] == "0/0000.png")[0])
    item = before.item_ids()[i : i + 1]
    assert changed.factors(item)["sha256"][0] != old["sha256"][i]
    assert float(next(changed.batches(1, item)).x.min()) == 1.0


def test_labels_csv_replaces_folder_classes(tmp_path):
    root = tmp_path / "digits"
    write_folder(root, 6)
    rels = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    csv = tmp_path / "labels.csv"
    csv.write_text(
        "path,thick,who\n" + "".join(f"{r},{i / 10},{'ab'[i % 2]}\n" for i, r in enumerate(rels))
    )
    data = open_data_file(root, labels=str(csv))
    assert data.factor_names == ("thick", "who", "path", "sha256")
    facts = data.factors(np.array([path_item_id(r) for r in rels]))
    np.testing.assert_allclose(facts["thick"], np.arange(6) / 10)
    assert list(facts["who"]) == ["a", "b"] * 3
    csv.write_text("path,thick\n" + "".join(f"{r},1\n" for r in rels[1:]))
    with pytest.raises(InvalidInputError, match=f"no row for image '{rels[0]}'"):
        open_data_file(root, labels=str(csv))


def test_parquet_image_bytes_match_the_folder_and_keep_their_ids(tmp_path):
    px, y = write_parquet(tmp_path / "d.parquet", 40, row_group_size=16)
    data = open_data_file(tmp_path / "d.parquet")
    assert isinstance(data, ImageParquet) and data.factor_names == ("digit", "sha256")
    ids, x, _ = _all(data, batch_size=9)
    np.testing.assert_array_equal(ids, np.arange(1000, 1040))
    np.testing.assert_allclose(x[:, 0], px / 255.0, atol=1e-7)
    np.testing.assert_array_equal(data.factors(ids[::-1])["digit"], y[::-1])
    subset = np.array([1039, 1001, 1020])  # across row groups, out of order
    got = next(data.batches(3, subset)).x.numpy()[:, 0]
    np.testing.assert_allclose(got, px[subset - 1000] / 255.0, atol=1e-7)


@pytest.mark.parametrize(
    ("spoil", "error", "match"),
    [
        ("empty", InvalidInputError, "holds no .png/.jpg/.jpeg files"),
        (
            "mixed",
            InvalidInputError,
            r"images differ in size: .*0/0000.png is 8x8 but .*odd.png is 8x9",
        ),
        ("truncated", CorruptArtifactError, r"1/0001.png is not a .*PNG"),
        ("text", CorruptArtifactError, r"3/0003.png is not a PNG or JPEG image"),
    ],
)
def test_bad_folders_are_refused_naming_the_file(tmp_path, spoil, error, match):
    root = tmp_path / "imgs"
    root.mkdir()
    if spoil != "empty":
        write_folder(root, 5)
    if spoil == "mixed":
        Image.fromarray(np.zeros((9, 8), np.uint8)).save(root / "2" / "odd.png")
    if spoil == "truncated":
        data = (root / "1" / "0001.png").read_bytes()
        (root / "1" / "0001.png").write_bytes(data[: len(data) // 2])
    if spoil == "text":
        (root / "3" / "0003.png").write_text("not an image")
    with pytest.raises(error, match=match):
        open_data_file(root)


def test_colour_and_gray_mix_as_rgb_and_folder_options_are_checked(tmp_path):
    root = tmp_path / "imgs"
    root.mkdir()
    Image.fromarray(np.full((4, 4), 10, np.uint8)).save(root / "g.png")
    Image.fromarray(np.full((4, 4, 3), (255, 0, 0), np.uint8)).save(root / "c.jpg", quality=100)
    data = open_data_file(root)
    assert data.x_shape == (3, 4, 4) and data.factor_names == ("path", "sha256")  # no subfolders
    x = next(data.batches(2, data.item_ids())).x
    by_path = dict(zip(data.factors(data.item_ids())["path"], x, strict=True))
    np.testing.assert_allclose(by_path["g.png"].numpy(), 10 / 255, atol=1e-7)
    assert by_path["c.jpg"][0].mean() > 0.95 and by_path["c.jpg"][1:].mean() < 0.05
    with pytest.raises(InvalidInputError, match=r"image folder, so \['id_column'\] do not apply"):
        open_data_file(root, id_column="id")


def test_bad_parquet_image_bytes_are_refused_naming_the_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_parquet(tmp_path / "d.parquet", 6)
    table = pq.read_table(tmp_path / "d.parquet")
    pngs = table["png"].to_pylist()
    pngs[4] = pngs[4][:30]  # truncated in the middle of the header
    spoiled = table.set_column(1, "png", pa.array(pngs, pa.binary()))
    pq.write_table(spoiled, tmp_path / "bad.parquet")
    with pytest.raises(CorruptArtifactError, match=r"bad.parquet row 4 is not a"):
        open_data_file(tmp_path / "bad.parquet")
    pngs[4] = None
    pq.write_table(
        spoiled.set_column(1, "png", pa.array(pngs, pa.binary())), tmp_path / "n.parquet"
    )
    with pytest.raises(InvalidInputError, match=r"n.parquet row 4: column 'png' is null"):
        open_data_file(tmp_path / "n.parquet")
    with pytest.raises(
        InvalidInputError, match="image and id columns cannot also be label columns"
    ):
        open_data_file(tmp_path / "d.parquet", id_column="digit", label_columns=["digit"])
