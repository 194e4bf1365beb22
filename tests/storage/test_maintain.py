"""Pins and maintenance on real Delta tables: pinned versions survive compaction and vacuum."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import numpy as np
import pytest

from latentops.directions import Direction
from latentops.errors import InvalidInputError, NotFoundError
from latentops.storage import DirectionLineage, Lineage, Store
from latentops.storage.latents import build_rows, latent_schema
from latentops.storage.maintain import maintain_store, maintain_table, parse_age
from latentops.storage.pins import Pin, pins

LINEAGE = Lineage("vae@1", "ab" * 32, "toy", "f" * 64, "run-1")
CARD = {"kind": "latents", "d": 4, "model": "vae@1", "space": "mu"}
NOW = {"older_than": timedelta(0), "grace": timedelta(0)}


def _insert(table, ids, seed=0):
    ids = np.asarray(ids, np.int64)
    z = np.random.default_rng(seed).normal(size=(len(ids), 4)).astype(np.float32)
    factors = {"shape": ids % 3}
    schema = latent_schema(factors, with_logvar=False)
    table.ensure(schema, CARD, "run-1")
    return table.insert(build_rows(schema, ids, z, factors, LINEAGE), "run-1")


def _grow(store, commits=12, per=10):
    table = store.latents("toy")
    for i in range(commits):
        _insert(table, range(i * per, (i + 1) * per), seed=i)
    return table


def _direction_on(store, version):
    direction = Direction(np.ones(4, np.float32) / 2, "manual")
    lineage = DirectionLineage(latent_table="toy", latent_table_version=version, model="vae@1")
    return store.directions.register("heart", direction, lineage)


def _check_pinned_survive(store):
    table = _grow(store)
    store.tags.tag(store, "toy", 4, "golden", "run-1")
    _direction_on(store, 7)
    assert [p for p in pins(store, "toy")] == [
        Pin(4, "tag", "golden"),
        Pin(7, "direction", "heart@1"),
    ]
    before = {v: table.read(version=v) for v in (4, 7)}
    latest = table.read()
    reports = {r.table: r for r in maintain_store(store, **NOW)}
    toy = reports["latents/toy"]
    assert toy.compacted_removed == 12 and toy.compacted_added == 1
    assert toy.pinned_versions == [4, 7]
    assert toy.vacuum_files and toy.after.files < toy.before.files
    # the log before the oldest kept version went too, after a checkpoint at that version
    assert toy.log_files and {int(f[:20]) for f in toy.log_files} == {0, 1, 2, 3}
    log = store.root / "latents" / "toy" / "_delta_log"
    assert not any((log / f).exists() for f in toy.log_files)
    assert (log / f"{4:020d}.checkpoint.parquet").exists()
    for version, rows in before.items():
        assert table.read(version=version).equals(rows)  # bit for bit: same rows, same z
    assert table.read().equals(latest) and latest.num_rows == 120  # compaction kept every row
    with pytest.raises(Exception, match="missing"):  # an unpinned old version is gone
        table.read(version=10)
    with pytest.raises(NotFoundError, match="version 10 of latent table 'toy' was vacuumed"):
        store.tags.tag(store, "toy", 10, "late", None)  # a tag cannot bring files back


def test_pinned_versions_stay_readable_and_identical_after_maintain(store):
    _check_pinned_survive(store)


def test_pinned_versions_survive_maintain_on_s3(s3_bucket):
    _check_pinned_survive(Store.open(f"s3://{s3_bucket}/store"))


def test_dry_run_lists_files_and_changes_nothing(store, table_versions):
    table = _grow(store, commits=4)
    # compacted once, so the replaced small files are unreferenced by the newest version
    maintain_table(store, "toy", older_than=timedelta(days=1))
    files = sorted(os.listdir(table.uri))
    versions = table_versions(store.root)
    dry = maintain_table(store, "toy", dry_run=True, **NOW)
    assert len(dry.vacuum_files) == 4 and dry.vacuum_bytes > 0
    assert sorted(os.listdir(table.uri)) == files and table_versions(store.root) == versions
    done = maintain_table(store, "toy", **NOW)
    assert done.vacuum_files == dry.vacuum_files and done.vacuum_bytes == dry.vacuum_bytes


def test_window_keeps_recent_versions(store):
    table = _grow(store, commits=4)
    rows = table.read(version=2)
    report = maintain_table(store, "toy", older_than=timedelta(hours=1), grace=timedelta(0))
    assert report.compacted_removed == 4 and report.vacuum_files == []
    assert table.read(version=2).equals(rows)


def test_maintain_concurrent_with_inserts_keeps_every_item_once(store):
    table = _grow(store, commits=6)
    old = time.time() - 3600  # existing files are an hour old: vacuum may take them
    for name in os.listdir(table.uri):
        if name.endswith(".parquet"):
            os.utime(os.path.join(table.uri, name), (old, old))
    errors = []

    def encode():
        try:
            for i in range(6, 16):
                _insert(table, range(i * 10, (i + 1) * 10), seed=i)
        except Exception as exc:  # reported below
            errors.append(exc)

    writer = threading.Thread(target=encode)
    writer.start()
    runs = 0
    while writer.is_alive() or runs < 2:
        maintain_table(store, "toy", older_than=timedelta(0), grace=timedelta(minutes=10))
        runs += 1
    writer.join()
    assert errors == []
    ids = table.read(["item_id"])["item_id"].to_numpy()
    np.testing.assert_array_equal(ids, np.arange(160))  # every item exactly once


def test_tag_refuses_unknown_table_version_and_moved_names(store, table_versions):
    _grow(store, commits=2)
    before = table_versions(store.root)
    with pytest.raises(NotFoundError, match="no latent table 'nope'"):
        store.tags.tag(store, "nope", 1, "x", None)
    with pytest.raises(NotFoundError, match=r"has versions 0\.\.2, not 9"):
        store.tags.tag(store, "toy", 9, "x", None)
    with pytest.raises(InvalidInputError, match="tag name"):
        store.tags.tag(store, "toy", 1, "bad name", None)
    assert table_versions(store.root) == before  # nothing written, not even a tags table
    assert store.tags.tag(store, "toy", 1, "x", None)
    with pytest.raises(InvalidInputError, match="already names toy version 1"):
        store.tags.tag(store, "toy", 2, "x", None)
    with pytest.raises(NotFoundError, match="has no tag 'y'; its tags: x"):
        store.tags.untag("toy", "y", None)
    assert store.tags.untag("toy", "x", None) == 1 and pins(store, "toy") == []


@pytest.mark.parametrize(
    ("text", "seconds"), [("7d", 604800), ("12h", 43200), ("30m", 1800), ("0", 0), ("1.5h", 5400)]
)
def test_parse_age(text, seconds):
    assert parse_age(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "7 days", "-1d", "d7", "1y"])
def test_parse_age_refuses(text):
    with pytest.raises(InvalidInputError, match="is not an age"):
        parse_age(text)


def test_pins_from_scores_and_edits(store):
    from latentops.storage.edits import EditSource, build_edit_rows
    from latentops.storage.scores import Protocol, Score, ScoreSource, build_score_rows

    _grow(store, commits=3)
    source = ScoreSource("run-9", "edit", "vae@1", None, "toy", 2)
    scores = [Score("auc", 0.9, Protocol("logistic"), direction="heart@1", strength=1.0)]
    store.scores.insert(build_score_rows(scores, source), "run-9")
    edit = EditSource("vae@1", "ab" * 32, "toy", 1, "run-8")
    z = np.zeros((1, 4), np.float32)
    rows = build_edit_rows("direction", [0], z, [1.0], [0], edit, direction="heart@1")
    store.edits.insert(rows, "run-8")
    assert pins(store, "toy") == [Pin(1, "edit", "direction heart@1"), Pin(2, "score", "run run-9")]


def test_commits_never_trim_the_log_behind_the_pins(store):
    """delta-rs' post-commit hook would delete commit files past logRetentionDuration (30 days)
    at each checkpoint; our commits turn that off, so a month-old pinned version still loads."""
    from deltalake import DeltaTable

    table = _grow(store, commits=3)
    store.tags.tag(store, "toy", 1, "old", None)
    rows = table.read(version=1)
    DeltaTable(table.uri).alter.set_table_properties({"delta.checkpointInterval": "2"})
    log = os.path.join(table.uri, "_delta_log")
    month_ago = time.time() - 40 * 86400
    for name in os.listdir(log):
        os.utime(os.path.join(log, name), (month_ago, month_ago))
    for i in range(3, 7):  # checkpoints at versions 6 and 8
        _insert(table, range(i * 10, (i + 1) * 10), seed=i)
    assert any(n.endswith(".checkpoint.parquet") for n in os.listdir(log))
    assert table.read(version=1).equals(rows)


def test_a_damaged_table_is_left_alone_and_the_others_maintained(store, table_versions):
    toy = _grow(store, commits=3)
    other = store.latents("other")
    for i in range(3):
        _insert(other, range(i * 10, (i + 1) * 10), seed=i)
    lost = sorted(n for n in os.listdir(toy.uri) if n.endswith(".parquet"))[0]
    os.remove(os.path.join(toy.uri, lost))
    before = table_versions(store.root)["latents/toy"], sorted(os.listdir(toy.uri))
    reports = {r.table: r for r in maintain_store(store, **NOW)}
    assert "data file(s) of the newest version are missing" in reports["latents/toy"].problem
    assert (table_versions(store.root)["latents/toy"], sorted(os.listdir(toy.uri))) == before
    assert reports["latents/other"].problem is None and reports["latents/other"].note is None
    assert reports["latents/other"].compacted_removed == 3


def test_a_lost_file_of_a_pinned_version_is_reported(store):
    table = _grow(store, commits=3)
    store.tags.tag(store, "toy", 1, "first", None)
    first = set(maintain_table(store, "toy", **NOW).retained_versions)
    assert first == {1, 4}
    kept = sorted(n for n in os.listdir(table.uri) if n.endswith(".parquet"))
    pinned_only = [n for n in kept if n not in _newest_files(table)]
    os.remove(os.path.join(table.uri, pinned_only[0]))
    report = maintain_table(store, "toy", **NOW)
    assert report.problem is None and "time travel to those versions fails" in report.note


def _newest_files(table):
    from deltalake import DeltaTable

    return set(DeltaTable(table.uri).get_add_actions(flatten=True).column("path").to_pylist())
