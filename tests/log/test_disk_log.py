"""The disk engine's own promises: file layout, restarts, indexes, flush and its thread."""

from __future__ import annotations

import os
import random
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from rafka.log import DiskLog, LogConfig, MemoryLog, TimestampOffset, open_log
from rafka.log.checkpoint import CLEAN_SHUTDOWN_FILE, LEADER_EPOCH_FILE, RECOVERY_POINT_FILE
from rafka.records import decode_batches, iter_batches
from tests.log.helpers import START_MS, FakeClock, commit, joined, make_batch, read_all

MakeDiskLog = Callable[..., DiskLog]


def _fill(log: DiskLog, batches: int, seed: int = 1) -> list[tuple[int, int]]:
    """Append batches of varied sizes, counts, timestamps and epochs; return (base, last)."""
    rng = random.Random(seed)
    spans = []
    for tag in range(batches):
        count = rng.randint(1, 5)
        stamps = [START_MS + rng.randint(0, 100_000) for _ in range(count)]
        result = log.append(
            make_batch(count=count, value_size=rng.randint(1, 400), tag=tag, timestamps=stamps),
            leader_epoch=tag // 40,
        )
        spans.append((result.base_offset, result.last_offset))
    return spans


def _state(log: DiskLog) -> tuple[object, ...]:
    return (
        log.log_start_offset,
        log.log_end_offset,
        log.segment_base_offsets,
        list(log.leader_epoch_start_offsets()),
        log.max_timestamp(),
        [log.offset_for_timestamp(START_MS + t) for t in range(0, 100_001, 7919)],
        joined(log.read(log.log_start_offset, 1 << 30).chunks),
    )


SMALL = LogConfig(segment_bytes=8000, index_interval_bytes=300)


def test_segment_files_are_named_by_base_offset(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(LogConfig(segment_bytes=1000))
    for i in range(20):
        log.append(make_batch(value_size=200, tag=i))
    names = {path.name for path in log.directory.iterdir()}
    assert "00000000000000000000.log" in names
    for base in log.segment_base_offsets:
        for suffix in (".log", ".index", ".timeindex"):
            assert f"{base:020d}{suffix}" in names


def test_restart_keeps_every_byte_and_offset(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(SMALL)
    _fill(log, 200)
    assert log.segment_count > 5
    before = _state(log)
    log.close()
    assert (log.directory / CLEAN_SHUTDOWN_FILE).exists()

    reopened = make_disk_log(SMALL)
    assert reopened.clean_shutdown
    assert not (log.directory / CLEAN_SHUTDOWN_FILE).exists()
    assert reopened.stats.segments_recovered == 0
    assert _state(reopened) == before
    assert reopened.append(make_batch(), leader_epoch=4).base_offset == before[1]

    # And again after an unclean stop: recovery finds the same log.
    reopened.flush()
    after_append = _state(reopened)
    reopened._abandon()
    recovered = make_disk_log(SMALL)
    assert not recovered.clean_shutdown
    assert recovered.stats.segments_recovered >= 1
    assert _state(recovered) == after_append


def test_every_offset_reads_from_its_own_batch(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(SMALL)
    spans = _fill(log, 150, seed=2)

    def check(log: DiskLog) -> None:
        for base, last in spans:
            for offset in {base, (base + last) // 2, last}:
                data = joined(log.read(offset, 1).chunks)
                (header,) = [h for _, h in iter_batches(data)]
                assert (header.base_offset, header.last_offset) == (base, last)

    check(log)
    log.close()
    check(make_disk_log(SMALL))  # indexes now come from the files


def test_index_files_are_sparse_and_well_formed(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(LogConfig(index_interval_bytes=1000))
    for i in range(100):
        log.append(make_batch(value_size=240, tag=i, timestamp=START_MS + i))
    log.close()
    index = (log.directory / "00000000000000000000.index").read_bytes()
    time_index = (log.directory / "00000000000000000000.timeindex").read_bytes()
    size = len(make_batch(value_size=240))
    assert size == 312
    # An entry for a batch once more than 1000 bytes went by since the previous entry: every
    # fourth batch (1248 > 1000), keyed by its last offset, as Kafka's LogSegment does.
    entries = list(struct.iter_unpack(">ii", index))
    assert entries == [(k, k * size) for k in range(4, 100, 4)]
    time_entries = list(struct.iter_unpack(">qi", time_index))
    # Same points, plus the final largest timestamp written when the segment was closed.
    assert time_entries == [(START_MS + k, k) for k in range(4, 100, 4)] + [(START_MS + 99, 99)]


def test_rolls_when_an_index_is_full(make_disk_log: MakeDiskLog) -> None:
    config = LogConfig(index_interval_bytes=0, segment_index_bytes=4 * 12)
    log = make_disk_log(config)
    for i in range(30):
        log.append(make_batch(tag=i, timestamp=START_MS + i))
    assert log.segment_count > 5
    assert [r.offset for r in read_all(log)] == list(range(30))
    log.close()
    for path in log.directory.glob("*.timeindex"):
        assert path.stat().st_size <= 5 * 12  # four entries, plus the final one at roll


def test_flush_policy_and_recovery_point(make_disk_log: MakeDiskLog, clock: FakeClock) -> None:
    log = make_disk_log(LogConfig(flush_messages=3, flush_ms=1000))
    assert not log.needs_flush(clock.now)
    log.append(make_batch(count=2))
    assert not log.needs_flush(clock.now)
    log.append(make_batch())
    assert log.needs_flush(clock.now)
    log.flush()
    assert log.recovery_point == 3
    assert not log.needs_flush(clock.now + 10_000)
    log.append(make_batch())
    assert not log.needs_flush(clock.now + 999)
    assert log.needs_flush(clock.now + 1000)
    assert log.stats.flushes == 1


def test_recovery_point_checkpoint_moves_with_segments(make_disk_log: MakeDiskLog) -> None:
    checkpoint = RECOVERY_POINT_FILE
    log = make_disk_log()
    log.append(make_batch(count=3))
    log.flush()
    # Recovery rescans the whole segment holding the recovery point: moving it inside the
    # same segment would not save any work, so the file is not rewritten.
    assert log.recovery_point == 3
    assert not (log.directory / checkpoint).exists()
    log.roll()
    log.append(make_batch(count=2))
    log.flush()
    assert (log.directory / checkpoint).read_text() == "0\n1\n5\n"
    log.append(make_batch())
    log.flush()
    assert (log.directory / checkpoint).read_text() == "0\n1\n5\n"
    log.close()
    assert (log.directory / checkpoint).read_text() == "0\n1\n6\n"


def test_flush_never_disabled_means_never(make_disk_log: MakeDiskLog, clock: FakeClock) -> None:
    log = make_disk_log(LogConfig(flush_messages=0, flush_ms=0))
    log.append(make_batch(count=100))
    assert not log.needs_flush(clock.now + 10**9)


def test_flush_in_a_worker_thread_while_appending(make_disk_log: MakeDiskLog) -> None:
    config = LogConfig(segment_bytes=20_000, index_interval_bytes=500, retention_bytes=60_000)
    log = make_disk_log(config)
    stop = threading.Event()
    errors: list[BaseException] = []
    flushed: list[int] = []

    def flusher() -> None:
        try:
            while not stop.is_set():
                log.flush()
                flushed.append(log.recovery_point)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=flusher)
    thread.start()
    try:
        for i in range(600):
            log.append(make_batch(count=2, value_size=150, tag=i), leader_epoch=i // 200)
            commit(log)
            if i % 50 == 49:
                log.apply_retention(START_MS)
            if i == 300:
                log.truncate_to(log.log_end_offset - 7)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert flushed == sorted(flushed) or min(flushed) >= 0
    assert log.stats.segments_deleted_by_retention > 0
    log.flush()
    expected = read_all(log)
    state = (log.log_start_offset, log.log_end_offset, list(log.leader_epoch_start_offsets()))
    log._abandon()
    reopened = make_disk_log(config)
    assert (
        reopened.log_start_offset,
        reopened.log_end_offset,
        list(reopened.leader_epoch_start_offsets()),
    ) == state
    assert read_all(reopened) == expected


def test_log_start_offset_survives_restart(make_disk_log: MakeDiskLog, clock: FakeClock) -> None:
    config = LogConfig(segment_bytes=500, retention_ms=1000)
    log = make_disk_log(config)
    for i in range(10):
        log.append(
            make_batch(value_size=100, tag=i, timestamp=clock.now - 5000 if i < 5 else clock.now)
        )
    commit(log)
    assert log.apply_retention(clock.now) > 0
    log.delete_records_before(log.log_start_offset + 1)
    start = log.log_start_offset
    log.close()
    reopened = make_disk_log(config)
    assert reopened.log_start_offset == start
    with pytest.raises(Exception, match="outside"):
        reopened.read(start - 1, 100)


def test_truncation_survives_a_crash(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(SMALL)
    spans = _fill(log, 100)
    log.flush()
    cut = spans[60][0]
    commit(log)
    log.truncate_to(cut)
    log._abandon()
    reopened = make_disk_log(SMALL)
    assert reopened.log_end_offset == cut
    assert reopened.append(make_batch()).base_offset == cut


def test_leader_epoch_checkpoint_uses_kafkas_format(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log()
    log.append(make_batch(count=4), leader_epoch=0)
    log.append(make_batch(count=2), leader_epoch=3)
    assert (log.directory / LEADER_EPOCH_FILE).read_text() == "0\n2\n0 0\n3 4\n"


def test_delete_removes_the_directory(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(SMALL)
    _fill(log, 50)
    log.delete()
    assert not log.directory.exists()
    log.close()


def test_stray_files_are_cleaned_up(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(SMALL)
    _fill(log, 60)
    log.close()
    directory = log.directory
    for name in (
        "recovery-point-offset-checkpoint.tmp",
        "00000000000000000007.log.deleted",
        "00000000000000099999.index",
        "00000000000000099999.timeindex",
    ):
        (directory / name).write_bytes(b"junk")
    reopened = make_disk_log(SMALL)
    names = {path.name for path in directory.iterdir()}
    assert not any(n.endswith((".tmp", ".deleted")) or "99999" in n for n in names)
    assert reopened.clean_shutdown


def test_empty_log_restarts_empty(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log()
    log.close()
    reopened = make_disk_log()
    assert (reopened.log_start_offset, reopened.log_end_offset) == (0, 0)
    assert reopened.max_timestamp() is None


def test_open_log_factory(tmp_path: Path) -> None:
    config = LogConfig()
    disk = open_log(tmp_path / "t-0", config, "disk")
    assert isinstance(disk, DiskLog)
    disk.close()
    assert isinstance(open_log(None, config, "in_memory"), MemoryLog)
    with pytest.raises(ValueError):
        open_log(None, config, "disk")
    with pytest.raises(ValueError):
        open_log(None, config, "tape")  # type: ignore[arg-type]


def test_read_returns_zero_copy_views_of_one_pread(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(LogConfig(index_interval_bytes=4096))
    for i in range(500):
        log.append(make_batch(value_size=100, tag=i))
    result = log.read(250, 64 * 1024)
    assert len(result.chunks) == 1
    chunk = result.chunks[0]
    assert isinstance(chunk, memoryview) and chunk.readonly
    records = decode_batches(bytes(chunk))
    assert records[0].offset == 250
    assert result.size <= 64 * 1024
    assert log.offset_for_timestamp(START_MS) == TimestampOffset(START_MS, 0)


def test_a_read_is_one_pread_per_segment(
    make_disk_log: MakeDiskLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = make_disk_log(LogConfig(segment_bytes=200_000, index_interval_bytes=4096))
    batch_offsets = []
    for i in range(300):
        batch_offsets.append(log.append(make_batch(count=3, value_size=2000, tag=i)).base_offset)
    assert log.segment_count >= 4
    calls: list[int] = []
    real_pread = os.pread

    def counting_pread(fd: int, size: int, offset: int) -> bytes:
        calls.append(size)
        return real_pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", counting_pread)
    for offset in batch_offsets[::7]:
        calls.clear()
        result = log.read(offset, 64 * 1024)
        # One pread per segment the read touches; a read that reaches the end of a segment
        # with budget left looks into the next one even if its first batch will not fit.
        assert len(calls) in (len(result.chunks), len(result.chunks) + 1), (offset, calls)
        assert sum(calls) <= 64 * 1024 + 4096 + 64 * 1024
        assert iter_batches_first_base(result.chunks[0]) == offset
    calls.clear()
    result = log.read(0, 1 << 30)
    assert len(calls) == len(result.chunks) == log.segment_count


def iter_batches_first_base(chunk: bytes | memoryview) -> int:
    return next(iter_batches(bytes(chunk)))[1].base_offset
