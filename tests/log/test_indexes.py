"""The sparse offset and time indexes on their own: lookups, truncation, file format, and
the sanity checks that decide when an index is rebuilt."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from rafka.log.index_file import IndexCorruptError
from rafka.log.offset_index import OffsetIndex
from rafka.log.time_index import TimeIndex

BASE = 1000


def _offset_index(tmp_path: Path, max_entries: int = 100) -> OffsetIndex:
    return OffsetIndex(tmp_path / "00000000000000001000.index", BASE, max_entries)


def _time_index(tmp_path: Path, max_entries: int = 100) -> TimeIndex:
    return TimeIndex(tmp_path / "00000000000000001000.timeindex", BASE, max_entries)


def test_offset_index_lookup(tmp_path: Path) -> None:
    index = _offset_index(tmp_path)
    assert index.lookup(1500) == (BASE, 0)
    for i in range(1, 11):
        index.append(BASE + 10 * i, 100 * i)
    assert index.lookup(BASE) == (BASE, 0)
    assert index.lookup(BASE + 9) == (BASE, 0)
    assert index.lookup(BASE + 10) == (BASE + 10, 100)
    assert index.lookup(BASE + 55) == (BASE + 50, 500)
    assert index.lookup(10**9) == (BASE + 100, 1000)
    assert index.floor_position(99) == 0
    assert index.floor_position(450) == 400
    assert index.last_entry == (BASE + 100, 1000)
    with pytest.raises(ValueError):
        index.append(BASE + 100, 2000)
    with pytest.raises(ValueError):
        index.append(BASE + 200, 1000)


def test_offset_index_file_format_and_reload(tmp_path: Path) -> None:
    index = _offset_index(tmp_path)
    index.append(BASE + 3, 4100)
    index.append(BASE + 7, 8300)
    assert index.persist()
    assert not index.persist()
    index.append(BASE + 9, 9000)
    index.persist()
    data = index.path.read_bytes()
    assert data == struct.pack(">iiiiii", 3, 4100, 7, 8300, 9, 9000)
    index.close()
    loaded = _offset_index(tmp_path)
    loaded.load(log_size=10_000, end_offset=BASE + 10)
    assert len(loaded) == 3 and loaded.lookup(BASE + 8) == (BASE + 7, 8300)


def test_offset_index_truncation(tmp_path: Path) -> None:
    index = _offset_index(tmp_path)
    for i in range(1, 6):
        index.append(BASE + i, 100 * i)
    index.persist()
    index.truncate_to_position(300)
    assert len(index) == 2
    assert index.path.stat().st_size == 16
    index.append(BASE + 3, 250)
    index.persist()
    assert index.path.read_bytes()[-8:] == struct.pack(">ii", 3, 250)


@pytest.mark.parametrize(
    ("entries", "log_size", "end"),
    [
        ([(1, 100), (1, 200)], 1000, BASE + 10),  # offsets not increasing
        ([(1, 200), (2, 100)], 1000, BASE + 10),  # positions not increasing
        ([(1, 100), (2, 5000)], 1000, BASE + 10),  # past the log size
        ([(1, 100), (20, 200)], 1000, BASE + 10),  # past the segment's end offset
        ([(-1, 100)], 1000, BASE + 10),  # negative
    ],
)
def test_offset_index_sanity_checks(
    tmp_path: Path, entries: list[tuple[int, int]], log_size: int, end: int
) -> None:
    index = _offset_index(tmp_path)
    index.path.write_bytes(b"".join(struct.pack(">ii", *e) for e in entries))
    with pytest.raises(IndexCorruptError):
        index.load(log_size, end)


def test_offset_index_torn_file_is_refused(tmp_path: Path) -> None:
    index = _offset_index(tmp_path)
    index.path.write_bytes(struct.pack(">ii", 1, 100) + b"\x00\x01")
    with pytest.raises(IndexCorruptError):
        index.load(1000, BASE + 10)


def test_offset_index_fullness(tmp_path: Path) -> None:
    index = _offset_index(tmp_path, max_entries=2)
    index.append(BASE + 1, 10)
    assert not index.is_full
    index.append(BASE + 2, 20)
    assert index.is_full


def test_time_index_only_keeps_increasing_timestamps(tmp_path: Path) -> None:
    index = _time_index(tmp_path)
    assert index.last_entry == (-1, BASE)
    index.maybe_append(-1, BASE)
    index.maybe_append(100, BASE)
    index.maybe_append(100, BASE + 5)
    index.maybe_append(90, BASE + 6)
    index.maybe_append(200, BASE + 7)
    assert len(index) == 2
    assert index.lookup(99) == (-1, BASE)
    assert index.lookup(100) == (100, BASE)
    assert index.lookup(150) == (100, BASE)
    assert index.lookup(10**12) == (200, BASE + 7)
    assert index.last_entry == (200, BASE + 7)


def test_time_index_full_check_can_be_skipped(tmp_path: Path) -> None:
    index = _time_index(tmp_path, max_entries=1)
    index.maybe_append(1, BASE)
    index.maybe_append(2, BASE + 1)
    assert len(index) == 1
    index.maybe_append(2, BASE + 1, skip_full_check=True)
    assert len(index) == 2


def test_time_index_file_format_reload_and_peek(tmp_path: Path) -> None:
    index = _time_index(tmp_path)
    index.maybe_append(1_700_000_000_000, BASE + 1)
    index.maybe_append(1_700_000_000_500, BASE + 4)
    index.persist()
    assert index.path.read_bytes() == struct.pack(
        ">qiqi", 1_700_000_000_000, 1, 1_700_000_000_500, 4
    )
    index.close()
    loaded = _time_index(tmp_path)
    assert loaded.peek_last_entry(BASE + 10) == (1_700_000_000_500, BASE + 4)
    loaded.load(BASE + 10)
    assert loaded.lookup(1_700_000_000_100) == (1_700_000_000_000, BASE + 1)
    loaded.truncate_to_offset(BASE + 4)
    assert len(loaded) == 1 and loaded.path.stat().st_size == 12
    with pytest.raises(IndexCorruptError):
        _time_index(tmp_path).load(BASE + 1)  # the entry points past the end


def test_time_index_sanity_checks(tmp_path: Path) -> None:
    index = _time_index(tmp_path)
    index.path.write_bytes(struct.pack(">qiqi", 200, 1, 100, 2))
    with pytest.raises(IndexCorruptError):
        index.load(BASE + 10)
    index.path.write_bytes(struct.pack(">qi", 200, 1) + b"\x00")
    with pytest.raises(IndexCorruptError):
        index.load(BASE + 10)
    with pytest.raises(IndexCorruptError):
        index.peek_last_entry(BASE + 10)
