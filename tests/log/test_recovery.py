"""Loading after damage: torn tails, flipped bytes, garbage, lost or broken indexes and
checkpoints. Every batch before the damage must survive, and the log must take appends with
offsets continuing from the last good batch."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from rafka.log import DiskLog, LogConfig
from rafka.log.checkpoint import (
    CLEAN_SHUTDOWN_FILE,
    LEADER_EPOCH_FILE,
    LOG_START_OFFSET_FILE,
    RECOVERY_POINT_FILE,
)
from rafka.records import Record, iter_batches
from tests.log.helpers import START_MS, commit, make_batch, read_all

MakeDiskLog = Callable[..., DiskLog]
CONFIG = LogConfig(segment_bytes=6000, index_interval_bytes=256)


def _build(make_disk_log: MakeDiskLog, batches: int = 120) -> tuple[DiskLog, list[Record]]:
    """A flushed multi-segment log, stopped without a clean shutdown."""
    log = make_disk_log(CONFIG)
    for tag in range(batches):
        log.append(
            make_batch(count=1 + tag % 3, value_size=50 + tag, tag=tag, timestamp=START_MS + tag),
            leader_epoch=tag // 50,
        )
    log.flush()
    records = read_all(log)
    log._abandon()
    return log, records


def _last_segment(directory: Path) -> Path:
    return sorted(directory.glob("*.log"))[-1]


def _batches(path: Path) -> list[tuple[int, int, int]]:
    """(position, size, base offset) of each batch in a segment file."""
    return [(pos, h.size, h.base_offset) for pos, h in iter_batches(path.read_bytes())]


def _check_survivors(log: DiskLog, expected: list[Record], end: int) -> None:
    assert log.log_end_offset == end
    assert read_all(log) == [r for r in expected if r.offset < end]
    result = log.append(make_batch(count=2, tag=999))
    assert (result.base_offset, result.last_offset) == (end, end + 1)
    assert [r.offset for r in read_all(log)][-3:] == [end - 1, end, end + 1]


@pytest.mark.parametrize("cut", [1, 13, 60, "header"])
def test_torn_tail_is_cut_back_to_the_last_whole_batch(
    make_disk_log: MakeDiskLog, cut: int | str
) -> None:
    log, expected = _build(make_disk_log)
    segment = _last_segment(log.directory)
    position, size, base = _batches(segment)[-1]
    keep = position + 30 if cut == "header" else position + size - int(cut)
    os.truncate(segment, keep)
    reopened = make_disk_log(CONFIG)
    assert not reopened.clean_shutdown
    assert reopened.stats.bytes_truncated_by_recovery == keep - position
    _check_survivors(reopened, expected, base)


def test_flipped_byte_in_the_last_batch(make_disk_log: MakeDiskLog) -> None:
    log, expected = _build(make_disk_log)
    segment = _last_segment(log.directory)
    position, size, base = _batches(segment)[-1]
    data = bytearray(segment.read_bytes())
    data[position + size - 5] ^= 0x40
    segment.write_bytes(data)
    _check_survivors(make_disk_log(CONFIG), expected, base)


@pytest.mark.parametrize("garbage", [b"\x00" * 100, os.urandom(500), b"\xff" * 7])
def test_garbage_after_the_last_batch(make_disk_log: MakeDiskLog, garbage: bytes) -> None:
    log, expected = _build(make_disk_log)
    with _last_segment(log.directory).open("ab") as file:
        file.write(garbage)
    reopened = make_disk_log(CONFIG)
    assert reopened.stats.bytes_truncated_by_recovery == len(garbage)
    _check_survivors(reopened, expected, expected[-1].offset + 1)


@pytest.mark.parametrize("clean", [True, False])
def test_deleted_index_files_are_rebuilt(make_disk_log: MakeDiskLog, clean: bool) -> None:
    log = make_disk_log(CONFIG)
    for tag in range(120):
        log.append(make_batch(count=2, value_size=80, tag=tag, timestamp=START_MS + tag))
    expected = read_all(log)
    if clean:
        log.close()
    else:
        log.flush()
        log._abandon()
    for path in log.directory.glob("*index"):
        path.unlink()
    reopened = make_disk_log(CONFIG)
    assert reopened.clean_shutdown == clean
    assert read_all(reopened) == expected
    for offset in range(0, 240, 7):
        (header,) = [h for _, h in iter_batches(bytes(reopened.read(offset, 1).chunks[0]))]
        assert header.base_offset <= offset <= header.last_offset
    found = reopened.offset_for_timestamp(START_MS + 77)
    assert found is not None and found.offset == 154
    reopened.close()
    assert len(list(log.directory.glob("*.index"))) == reopened.segment_count
    assert all(p.stat().st_size > 0 for p in log.directory.glob("*.index"))


@pytest.mark.parametrize("damage", ["garbage", "torn", "out-of-order", "past-end"])
def test_damaged_index_of_an_old_segment_is_rebuilt(
    make_disk_log: MakeDiskLog, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    log = make_disk_log(CONFIG)
    for tag in range(120):
        log.append(make_batch(count=2, value_size=80, tag=tag, timestamp=START_MS + tag))
    expected = read_all(log)
    log.close()
    index = sorted(log.directory.glob("*.index"))[1]
    data = bytearray(index.read_bytes())
    if damage == "garbage":
        data[:] = os.urandom(len(data))
    elif damage == "torn":
        data += b"\x01\x02\x03"
    elif damage == "out-of-order":
        data[:8], data[8:16] = data[8:16], data[:8]
    else:
        data[-4:] = (10**6).to_bytes(4, "big")
    index.write_bytes(data)
    reopened = make_disk_log(CONFIG)
    assert read_all(reopened) == expected
    for offset in range(0, 240, 3):
        (header,) = [h for _, h in iter_batches(bytes(reopened.read(offset, 1).chunks[0]))]
        assert header.base_offset <= offset <= header.last_offset
    # Found at load (last entry unusable) or on first use (full sanity check).
    assert any(index.stem in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_damage_in_an_older_segment_drops_what_follows(make_disk_log: MakeDiskLog) -> None:
    log, expected = _build(make_disk_log)
    # Without a recovery point everything is rescanned (as if nothing was ever flushed).
    (log.directory / RECOVERY_POINT_FILE).unlink()
    segments = sorted(log.directory.glob("*.log"))
    assert len(segments) >= 4
    damaged = segments[1]
    position, _, base = _batches(damaged)[3]
    data = bytearray(damaged.read_bytes())
    data[position + 40] ^= 0xFF
    damaged.write_bytes(data)
    reopened = make_disk_log(CONFIG)
    assert reopened.segment_count == 2
    assert not any(p.exists() for p in segments[2:])
    _check_survivors(reopened, expected, base)


def test_clean_marker_does_not_hide_a_torn_tail(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(CONFIG)
    for tag in range(50):
        log.append(make_batch(value_size=100, tag=tag))
    expected = read_all(log)
    log.close()
    segment = _last_segment(log.directory)
    position, _, base = _batches(segment)[-1]
    os.truncate(segment, position + 70)
    reopened = make_disk_log(CONFIG)
    assert reopened.clean_shutdown
    assert reopened.stats.segments_recovered == 1
    _check_survivors(reopened, expected, base)


def test_recovery_starts_at_the_recovery_point(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(CONFIG)
    for tag in range(100):
        log.append(make_batch(value_size=100, tag=tag))
    log.flush()
    flushed_segments = log.segment_count
    for tag in range(100, 200):
        log.append(make_batch(value_size=100, tag=tag))
    total = log.segment_count
    expected = read_all(log)
    log._abandon()
    reopened = make_disk_log(CONFIG)
    # The segment holding the recovery point and every later one.
    assert reopened.stats.segments_recovered == total - flushed_segments + 1
    assert read_all(reopened) == expected
    assert reopened.recovery_point == reopened.log_end_offset


def test_leader_epochs_are_rebuilt_from_recovered_batches(make_disk_log: MakeDiskLog) -> None:
    log, _ = _build(make_disk_log)
    epochs = list(log.leader_epoch_start_offsets())
    assert len(epochs) == 3
    (log.directory / LEADER_EPOCH_FILE).unlink()
    (log.directory / RECOVERY_POINT_FILE).unlink()
    reopened = make_disk_log(CONFIG)
    assert list(reopened.leader_epoch_start_offsets()) == epochs
    assert (log.directory / LEADER_EPOCH_FILE).exists()


def test_torn_tail_drops_the_epochs_it_started(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(CONFIG)
    log.append(make_batch(count=3), leader_epoch=1)
    log.append(make_batch(count=3), leader_epoch=2)
    log.flush()
    log._abandon()
    segment = _last_segment(log.directory)
    os.truncate(segment, _batches(segment)[-1][0] + 10)
    reopened = make_disk_log(CONFIG)
    assert reopened.log_end_offset == 3
    assert list(reopened.leader_epoch_start_offsets()) == [(1, 0)]


@pytest.mark.parametrize("name", [RECOVERY_POINT_FILE, LEADER_EPOCH_FILE, LOG_START_OFFSET_FILE])
def test_damaged_checkpoints_are_survivable(make_disk_log: MakeDiskLog, name: str) -> None:
    log, expected = _build(make_disk_log)
    (log.directory / name).write_bytes(b"not a checkpoint\n\xff")
    reopened = make_disk_log(CONFIG)
    assert read_all(reopened) == expected
    reopened.close()
    assert (log.directory / name).read_text().startswith("0\n")


def test_segments_below_a_persisted_log_start_are_deleted(
    make_disk_log: MakeDiskLog,
) -> None:
    log = make_disk_log(CONFIG)
    for tag in range(120):
        log.append(make_batch(value_size=100, tag=tag))
    commit(log)
    bases = log.segment_base_offsets
    log.close()
    # As if the process died between persisting a new log start and deleting the files.
    (log.directory / LOG_START_OFFSET_FILE).write_text(f"0\n1\n{bases[2] + 1}\n")
    (log.directory / CLEAN_SHUTDOWN_FILE).unlink()
    reopened = make_disk_log(CONFIG)
    assert reopened.log_start_offset == bases[2] + 1
    assert reopened.segment_base_offsets == bases[2:]


def test_log_start_past_the_recovered_end_restarts_empty(make_disk_log: MakeDiskLog) -> None:
    log, _ = _build(make_disk_log, batches=10)
    (log.directory / LOG_START_OFFSET_FILE).write_text("0\n1\n500\n")
    reopened = make_disk_log(CONFIG)
    assert (reopened.log_start_offset, reopened.log_end_offset) == (500, 500)
    assert reopened.append(make_batch()).base_offset == 500


def test_recovery_after_truncating_everything(make_disk_log: MakeDiskLog) -> None:
    log, _ = _build(make_disk_log, batches=10)
    for segment in log.directory.glob("*.log"):
        os.truncate(segment, 0)
    reopened = make_disk_log(CONFIG)
    assert reopened.log_end_offset == reopened.segment_base_offsets[0] == 0
    assert reopened.append(make_batch()).base_offset == 0
