"""Behaviour both engines must share: run every test against the disk and the in-memory log."""

from __future__ import annotations

import logging
import struct

import pytest
from crc32c import crc32c

from rafka.log import DiskLog, LogClosedError, LogConfig, OffsetOutOfRangeError, TimestampOffset
from rafka.records import (
    BatchTooLargeError,
    Compression,
    CorruptBatchError,
    InvalidBatchError,
    Record,
    TimestampType,
    build_batch,
    decode_batches,
    iter_batches,
)
from tests.log.helpers import (
    START_MS,
    FakeClock,
    LogFactory,
    commit,
    joined,
    make_batch,
    read_all,
)

DAY = 24 * 3600 * 1000


def test_append_assigns_consecutive_offsets(make_log: LogFactory) -> None:
    log = make_log()
    results = [log.append(make_batch(count=n, tag=i)) for i, n in enumerate([1, 3, 5, 2])]
    assert [(r.base_offset, r.last_offset) for r in results] == [(0, 0), (1, 3), (4, 8), (9, 10)]
    assert all(r.log_append_time_ms == -1 and r.log_start_offset == 0 for r in results)
    assert log.log_end_offset == 11
    records = read_all(log)
    assert [r.offset for r in records] == list(range(11))
    assert records[4].value is not None and records[4].value.startswith(b"2:0:")


def test_append_several_batches_in_one_request(make_log: LogFactory) -> None:
    log = make_log()
    request = make_batch(count=2, tag=0) + make_batch(count=3, tag=1)
    result = log.append(request, leader_epoch=7)
    assert (result.base_offset, result.last_offset) == (0, 4)
    data = joined(log.read(0, 1 << 20).chunks)
    batches = [header for _, header in iter_batches(data)]
    assert [(b.base_offset, b.partition_leader_epoch) for b in batches] == [(0, 7), (2, 7)]
    assert len(data) == len(request)


def test_stored_bytes_are_the_request_with_offsets_and_epoch_patched(
    make_log: LogFactory,
) -> None:
    log = make_log()
    log.append(make_batch(tag=0))
    request = make_batch(count=4, tag=1)
    log.append(request, leader_epoch=3)
    stored = bytes(log.read(1, 1 << 20).chunks[0])
    expected = bytearray(request)
    struct.pack_into(">q", expected, 0, 1)
    struct.pack_into(">i", expected, 12, 3)
    assert stored == bytes(expected)


def test_read_returns_the_whole_batch_containing_the_offset(make_log: LogFactory) -> None:
    log = make_log()
    log.append(make_batch(count=5, tag=0))
    log.append(make_batch(count=5, tag=1))
    result = log.read(7, 1 << 20)
    records = decode_batches(joined(result.chunks))
    assert [r.offset for r in records] == [5, 6, 7, 8, 9]
    assert (result.log_start_offset, result.high_watermark, result.log_end_offset) == (0, 0, 10)


def test_read_respects_max_bytes_with_whole_batches(make_log: LogFactory) -> None:
    log = make_log()
    sizes = []
    for i in range(10):
        batch = make_batch(value_size=100, tag=i)
        sizes.append(len(batch))
        log.append(batch)
    result = log.read(0, sizes[0] * 3 + 10)
    assert result.size == sizes[0] * 3
    assert len(list(iter_batches(joined(result.chunks)))) == 3
    # A first batch larger than max_bytes still comes back whole...
    result = log.read(0, 10)
    assert result.size == sizes[0]
    # ...unless the caller asks otherwise.
    result = log.read(0, 10, min_one_batch=False)
    assert result.size == 0 and result.chunks == []


def test_read_stops_before_max_offset(make_log: LogFactory) -> None:
    log = make_log()
    for i in range(5):
        log.append(make_batch(count=2, tag=i))
    result = log.read(0, 1 << 20, max_offset=5)
    # The batch holding offsets 4 and 5 straddles max_offset: it is not returned.
    assert [r.offset for r in decode_batches(joined(result.chunks))] == [0, 1, 2, 3]
    assert log.read(4, 1 << 20, max_offset=4).size == 0
    assert log.read(6, 1 << 20, max_offset=4).size == 0


def test_read_out_of_range(make_log: LogFactory) -> None:
    log = make_log()
    log.append(make_batch(count=3))
    with pytest.raises(OffsetOutOfRangeError):
        log.read(4, 100)
    with pytest.raises(OffsetOutOfRangeError):
        log.read(-1, 100)
    at_end = log.read(3, 100)
    assert at_end.size == 0 and at_end.log_end_offset == 3


def test_read_across_segments(make_log: LogFactory) -> None:
    log = make_log(LogConfig(segment_bytes=1000, index_interval_bytes=64))
    for i in range(40):
        log.append(make_batch(count=2, value_size=50, tag=i))
    assert log.segment_count > 5
    result = log.read(0, 1 << 20)
    if isinstance(log, DiskLog):
        assert len(result.chunks) == log.segment_count  # one pread per segment
    records = decode_batches(joined(result.chunks))
    assert [r.offset for r in records] == list(range(80))
    assert result.size == log.size_bytes


def test_rolls_by_size(make_log: LogFactory) -> None:
    batch = make_batch(value_size=100)
    log = make_log(LogConfig(segment_bytes=len(batch) * 3))
    for _ in range(10):
        log.append(batch)
    assert log.segment_count == 4  # 3 + 3 + 3 + 1
    assert log.size_bytes == len(batch) * 10


def test_oversized_append_refused(make_log: LogFactory) -> None:
    log = make_log(LogConfig(segment_bytes=200))
    with pytest.raises(BatchTooLargeError):
        log.append(make_batch(value_size=300))
    assert log.log_end_offset == 0


def test_rolls_by_time(make_log: LogFactory, clock: FakeClock) -> None:
    log = make_log(LogConfig(segment_ms=60_000))
    log.append(make_batch(timestamp=clock.now))
    clock.advance(60_000)
    log.append(make_batch(timestamp=clock.now))
    assert log.segment_count == 1
    clock.advance(1)
    log.append(make_batch(timestamp=clock.now))
    assert log.segment_count == 2
    clock.advance(10 * 60_000)
    log.append(make_batch(timestamp=clock.now))
    assert log.segment_count == 3
    assert log.stats.segments_rolled == 2


def test_an_empty_segment_never_rolls(make_log: LogFactory, clock: FakeClock) -> None:
    log = make_log(LogConfig(segment_ms=10))
    clock.advance(1000)
    log.append(make_batch())
    assert log.segment_count == 1
    assert log.roll() == 1
    assert log.roll() == 1
    assert log.segment_count == 2


def test_offset_for_timestamp_matches_a_brute_force_search(make_log: LogFactory) -> None:
    import random

    rng = random.Random(7)
    log = make_log(LogConfig(segment_bytes=2000, index_interval_bytes=100))
    records: list[tuple[int, int]] = []  # (offset, timestamp)
    offset = 0
    for tag in range(60):
        count = rng.randint(1, 4)
        stamps = [START_MS + rng.randint(0, 5000) for _ in range(count)]
        log.append(make_batch(count=count, tag=tag, timestamps=stamps))
        records.extend((offset + i, ts) for i, ts in enumerate(stamps))
        offset += count
    assert log.segment_count > 3
    for target in [START_MS - 1, *range(START_MS, START_MS + 5002, 97)]:
        expected = next(((ts, o) for o, ts in records if ts >= target), None)
        found = log.offset_for_timestamp(target)
        if expected is None:
            assert found is None
        else:
            assert found == TimestampOffset(*expected), target
    top = max(ts for _, ts in records)
    first_top = next(o for o, ts in records if ts == top)
    assert log.max_timestamp() == TimestampOffset(top, first_top)


def test_offset_for_timestamp_skips_records_below_log_start(make_log: LogFactory) -> None:
    log = make_log()
    log.append(make_batch(count=4, timestamps=[100, 200, 300, 400]))
    log.append(make_batch(count=2, timestamps=[500, 600]))
    commit(log)
    log.delete_records_before(2)
    assert log.offset_for_timestamp(0) == TimestampOffset(300, 2)
    assert log.offset_for_timestamp(450) == TimestampOffset(500, 4)
    assert log.offset_for_timestamp(601) is None


def test_empty_log_timestamps(make_log: LogFactory) -> None:
    log = make_log()
    assert log.offset_for_timestamp(0) is None
    assert log.max_timestamp() is None


def test_log_append_time(make_log: LogFactory, clock: FakeClock) -> None:
    log = make_log(LogConfig(message_timestamp_type=TimestampType.LOG_APPEND_TIME))
    result = log.append(make_batch(count=3, timestamp=5))
    assert result.log_append_time_ms == clock.now
    records = decode_batches(joined(log.read(0, 1 << 20).chunks))  # also checks the CRC
    assert {r.timestamp_ms for r in records} == {clock.now}
    assert log.max_timestamp() == TimestampOffset(clock.now, 0)


def test_compressed_batches_are_stored_as_is(make_log: LogFactory) -> None:
    log = make_log()
    batch = make_batch(count=20, value_size=200, compression=Compression.GZIP)
    log.append(make_batch())
    log.append(batch)
    assert log.log_end_offset == 21
    records = read_all(log)
    assert [r.offset for r in records] == list(range(21))
    assert log.offset_for_timestamp(START_MS) == TimestampOffset(START_MS, 0)


# ------------------------------------------------------------- refused input


def _corrupt_crc(batch: bytes) -> bytes:
    data = bytearray(batch)
    data[-1] ^= 0xFF
    return bytes(data)


def _wrong_magic(batch: bytes) -> bytes:
    data = bytearray(batch)
    data[16] = 1
    struct.pack_into(">I", data, 17, crc32c(bytes(data[21:])))
    return bytes(data)


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (_corrupt_crc, CorruptBatchError),
        (lambda b: b[:-3], CorruptBatchError),
        (lambda b: b[:40], CorruptBatchError),
        (_wrong_magic, InvalidBatchError),
        (lambda b: b"", InvalidBatchError),
        (lambda b: b + _corrupt_crc(b), CorruptBatchError),
        (lambda b: b + b[:-1], CorruptBatchError),
    ],
    ids=["crc", "truncated", "short-header", "magic", "empty", "second-bad", "second-torn"],
)
def test_bad_input_is_refused_and_nothing_written(
    make_log: LogFactory, mangle: object, error: type[Exception]
) -> None:
    log = make_log()
    log.append(make_batch(tag=0))
    before = (log.log_end_offset, log.size_bytes, joined(log.read(0, 1 << 20).chunks))
    with pytest.raises(error):
        log.append(mangle(make_batch(count=3, tag=1)))  # type: ignore[operator]
    assert (log.log_end_offset, log.size_bytes, joined(log.read(0, 1 << 20).chunks)) == before
    assert log.append(make_batch(tag=2)).base_offset == 1


def test_too_large_batch_refused(make_log: LogFactory) -> None:
    log = make_log(LogConfig(max_message_bytes=500))
    log.append(make_batch(value_size=300))
    with pytest.raises(BatchTooLargeError):
        log.append(make_batch(value_size=600))
    assert log.log_end_offset == 1


# ---------------------------------------------------------------- retention


def test_retention_by_age(
    make_log: LogFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rafka.log")
    log = make_log(LogConfig(segment_ms=DAY, retention_ms=7 * DAY))
    for day in range(10):
        log.append(make_batch(count=2, tag=day, timestamp=clock.now))
        clock.advance(DAY + 1)
    commit(log)
    assert log.segment_count == 10
    # Segment d holds one batch stamped START + d * (DAY + 1); now is START + 10 * DAY + 10.
    # Day 3 turns older than seven days at START + 10 * DAY + 4, days 0..2 before that.
    assert log.apply_retention(START_MS + 10 * DAY + 3) == 3
    assert log.apply_retention(clock.now) == 1
    assert log.segment_count == 6
    assert log.log_start_offset == 8
    assert log.stats.segments_deleted_by_retention == 4
    with pytest.raises(OffsetOutOfRangeError):
        log.read(7, 100)
    assert read_all(log)[0].offset == 8
    assert any("retention deleted 3 segment" in r.getMessage() for r in caplog.records)


def test_retention_by_age_uses_largest_timestamp(make_log: LogFactory, clock: FakeClock) -> None:
    log = make_log(LogConfig(retention_ms=1000))
    log.append(make_batch(count=2, timestamps=[clock.now - 5000, clock.now]))
    log.roll()
    log.append(make_batch(timestamp=clock.now))
    commit(log)
    clock.advance(1000)
    assert log.apply_retention(clock.now) == 0  # newest record is exactly 1000 ms old
    clock.advance(1)
    assert log.apply_retention(clock.now) == 1
    assert log.log_start_offset == 2


def test_retention_never_deletes_the_active_segment(make_log: LogFactory, clock: FakeClock) -> None:
    log = make_log(LogConfig(retention_ms=10))
    log.append(make_batch(timestamp=clock.now))
    log.roll()
    log.append(make_batch(timestamp=clock.now))
    commit(log)
    clock.advance(DAY)
    assert log.apply_retention(clock.now) == 1
    assert log.segment_count == 1
    assert log.log_start_offset == 1
    assert log.log_end_offset == 2
    assert log.apply_retention(clock.now) == 0
    assert log.append(make_batch()).base_offset == 2


def test_retention_keeps_segments_above_the_high_watermark(
    make_log: LogFactory, clock: FakeClock
) -> None:
    log = make_log(LogConfig(retention_ms=10))
    for i in range(4):
        log.append(make_batch(tag=i, timestamp=clock.now))
        log.roll()
    log.set_high_watermark(2)
    clock.advance(DAY)
    assert log.apply_retention(clock.now) == 2
    assert log.log_start_offset == 2


def test_retention_by_size(make_log: LogFactory, clock: FakeClock) -> None:
    batch = make_batch(value_size=200, timestamp=clock.now)
    log = make_log(LogConfig(segment_bytes=len(batch) * 2, retention_bytes=len(batch) * 5))
    for _ in range(12):
        log.append(batch)
    commit(log)
    assert log.segment_count == 6
    deleted = log.apply_retention(clock.now)
    # 12 batches, limit 5: whole 2-batch segments go while the rest still exceeds the limit.
    assert deleted == 3
    assert log.size_bytes == len(batch) * 6
    assert log.log_start_offset == 6


def test_retention_disabled(make_log: LogFactory, clock: FakeClock) -> None:
    log = make_log(LogConfig(retention_ms=-1, retention_bytes=-1))
    for _ in range(3):
        log.append(make_batch(timestamp=0))
        log.roll()
    commit(log)
    clock.advance(100 * DAY)
    assert log.apply_retention(clock.now) == 0
    log.update_config(LogConfig(retention_ms=DAY, cleanup_policy="compact"))
    assert log.apply_retention(clock.now) == 0
    log.update_config(LogConfig(retention_ms=DAY, cleanup_policy="compact,delete"))
    assert log.apply_retention(clock.now) == 3


def test_segment_without_timestamps_ages_from_its_last_append(
    make_log: LogFactory, clock: FakeClock
) -> None:
    log = make_log(LogConfig(retention_ms=1000))
    log.append(make_batch(timestamp=-1))
    log.roll()
    log.append(make_batch(timestamp=-1))
    commit(log)
    clock.advance(1001)
    assert log.apply_retention(clock.now) == 1


# ------------------------------------------------------ log start, truncation


def test_delete_records_before(make_log: LogFactory) -> None:
    log = make_log(LogConfig(segment_bytes=400))
    for i in range(20):
        log.append(make_batch(count=2, value_size=40, tag=i))
    commit(log)
    segments = log.segment_count
    assert log.delete_records_before(9) == 9
    assert log.log_start_offset == 9
    assert log.segment_count < segments
    with pytest.raises(OffsetOutOfRangeError):
        log.read(8, 100)
    # Reading at the new start returns the batch holding it, which starts below it.
    assert decode_batches(joined(log.read(9, 100).chunks))[0].offset == 8
    assert log.delete_records_before(5) == 9
    with pytest.raises(OffsetOutOfRangeError):
        log.delete_records_before(41)
    log.set_high_watermark(30)
    with pytest.raises(OffsetOutOfRangeError):
        log.delete_records_before(31)
    assert log.delete_records_before(-1) == 30
    assert log.append(make_batch()).log_start_offset == 30


def test_truncate_to(make_log: LogFactory) -> None:
    log = make_log(LogConfig(segment_bytes=500))
    for i in range(20):
        log.append(make_batch(count=3, value_size=30, tag=i), leader_epoch=i // 5)
    assert log.segment_count > 2
    commit(log)
    log.truncate_to(31)  # inside the batch 30..32: the whole batch goes
    assert log.log_end_offset == 30
    assert log.high_watermark == 30
    assert [r.offset for r in read_all(log)] == list(range(30))
    assert log.leader_epoch_start_offsets() == [(0, 0), (1, 15)]
    assert log.append(make_batch(tag=99), leader_epoch=5).base_offset == 30
    assert read_all(log)[-1].value is not None
    assert read_all(log)[-1].value.startswith(b"99:")  # type: ignore[union-attr]
    log.truncate_to(100)  # past the end: nothing happens
    assert log.log_end_offset == 31


def test_truncate_below_log_start_empties_the_log(make_log: LogFactory) -> None:
    log = make_log()
    for i in range(5):
        log.append(make_batch(count=2, tag=i))
    commit(log)
    log.delete_records_before(4)
    log.truncate_to(3)
    assert (log.log_start_offset, log.log_end_offset, log.size_bytes) == (3, 3, 0)
    assert log.leader_epoch_start_offsets() == []
    assert log.append(make_batch()).base_offset == 3
    assert [r.offset for r in read_all(log)] == [3]


def test_high_watermark_is_clamped(make_log: LogFactory) -> None:
    log = make_log()
    log.append(make_batch(count=5))
    assert log.high_watermark == 0  # the broker moves it, not append
    log.set_high_watermark(100)
    assert log.high_watermark == 5
    log.set_high_watermark(2)
    assert log.high_watermark == 2
    assert log.read(0, 1000).high_watermark == 2


# ------------------------------------------------------------- leader epochs


def test_leader_epoch_cache(make_log: LogFactory) -> None:
    log = make_log()
    for epoch in [0, 0, 1, 1, 3]:
        log.append(make_batch(count=2), leader_epoch=epoch)
    assert list(log.leader_epoch_start_offsets()) == [(0, 0), (1, 4), (3, 8)]
    assert log.end_offset_for_epoch(3) == (3, 10)
    assert log.end_offset_for_epoch(2) == (1, 8)
    assert log.end_offset_for_epoch(1) == (1, 8)
    assert log.end_offset_for_epoch(0) == (0, 4)
    assert log.end_offset_for_epoch(4) == (-1, -1)
    assert log.end_offset_for_epoch(-1) == (-1, -1)
    stored = [
        h.partition_leader_epoch for _, h in iter_batches(joined(log.read(0, 1 << 20).chunks))
    ]
    assert stored == [0, 0, 1, 1, 3]


def test_leader_epoch_cache_follows_log_start(make_log: LogFactory) -> None:
    log = make_log()
    for epoch in [1, 2, 3]:
        log.append(make_batch(count=2), leader_epoch=epoch)
    commit(log)
    log.delete_records_before(3)
    assert list(log.leader_epoch_start_offsets()) == [(2, 3), (3, 4)]
    assert log.end_offset_for_epoch(0) == (0, 3)


# ------------------------------------------------------------------- closing


def test_closed_log_refuses_work(make_log: LogFactory) -> None:
    log = make_log()
    log.append(make_batch())
    log.close()
    log.close()
    with pytest.raises(LogClosedError):
        log.append(make_batch())
    with pytest.raises(LogClosedError):
        log.read(0, 100)
    log.flush()  # a late flush from a worker is harmless
    assert not log.needs_flush(0)


def test_build_and_read_a_batch_with_every_field(make_log: LogFactory) -> None:
    log = make_log()
    batch = build_batch(
        [Record(None, None, (("h", None), ("é", b"\x00")), START_MS)],
        producer_id=5,
        producer_epoch=1,
        base_sequence=0,
    )
    log.append(batch)
    (record,) = decode_batches(joined(log.read(0, 100).chunks))
    assert record == Record(None, None, (("h", None), ("é", b"\x00")), START_MS, 0)


def test_log_messages_use_the_rafka_log_logger(
    make_log: LogFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rafka.log")
    log = make_log(LogConfig(retention_bytes=0))
    log.append(make_batch())
    log.roll()
    log.append(make_batch())
    commit(log)
    assert log.apply_retention(clock.now) == 1
    assert [r.name for r in caplog.records if "retention" in r.getMessage()] == ["rafka.log"]
