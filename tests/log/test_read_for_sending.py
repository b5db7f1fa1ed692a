"""`read_for_sending()`: the same bytes as `read()`, with large runs of a segment file handed out
as `FileRegion`s (rafka.log.region) that a writer `sendfile`s. Checked against `read()` on
random logs (tiny to >64 KiB batches, several segments, moved log starts and high watermarks,
reopened logs), on a compacted log with offset gaps, after the region's segment is deleted,
and for the memory engine, which never hands out regions."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rafka.broker.fetch import records_from
from rafka.log import DiskLog, FileRegion, LogConfig, MemoryLog, ReadResult, SendChunk
from rafka.log.api import ByteChunk
from rafka.log.disk import REGION_MIN_BYTES
from rafka.records import Record, build_batch, decode_batches, iter_batches
from tests.log.helpers import START_MS, FakeClock, commit, joined

MakeDiskLog = Callable[..., DiskLog]

FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Whole batch sizes to draw from: tail-following tiny ones, ones near and above the region
# threshold, and ones several times larger.
BATCH_BYTES = [40, 600, 5_000, 30_000, 60_000, 66_000, 150_000, 300_000]


# ------------------------------------------------------------------ helpers


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def batch_of(tag: int, count: int, total: int) -> bytes:
    """`count` records (keys k0.., values naming the batch and record) of about `total` bytes."""
    value_size = max(total // count, 8)
    records = [
        Record(
            key=f"k{i}".encode(),
            value=f"{tag}:{i}:".encode().ljust(value_size, b"abcdefgh"[tag % 8 : tag % 8 + 1]),
            timestamp_ms=START_MS + tag,
        )
        for i in range(count)
    ]
    return build_batch(records)


def chunk_bytes(chunk: SendChunk) -> bytes:
    return bytes(chunk)


def joined_send(chunks: Sequence[SendChunk]) -> bytes:
    return b"".join(chunk_bytes(chunk) for chunk in chunks)


def close_regions(chunks: Sequence[SendChunk]) -> None:
    for chunk in chunks:
        if isinstance(chunk, FileRegion):
            chunk.close()
            assert chunk.fd == -1


def check_region_offsets(region: FileRegion) -> None:
    """A region's first/last offsets are what its batch headers say (records_from relies on
    them without reading the bytes)."""
    headers = [header for _, header in iter_batches(bytes(region))]
    assert headers, region
    assert sum(header.size for header in headers) == region.size
    assert headers[0].base_offset == region.first_offset
    assert headers[-1].last_offset == region.last_offset


def assert_same_as_read(
    log: DiskLog, offset: int, max_bytes: int, max_offset: int | None, min_one_batch: bool
) -> tuple[ReadResult[ByteChunk], ReadResult[SendChunk]]:
    """read() and read_for_sending() with the same arguments give the same bytes, sizes,
    offsets and record counts; regions only for runs of at least REGION_MIN_BYTES, all closed
    afterwards without leaking a descriptor. Returns both results (regions closed)."""
    plain = log.read(offset, max_bytes, max_offset, min_one_batch)
    assert all(isinstance(chunk, bytes | memoryview) for chunk in plain.chunks)
    expected = joined(plain.chunks)
    # read() above loaded every index the same segments need, so nothing else opens files.
    fds = open_fds()
    sending = log.read_for_sending(offset, max_bytes, max_offset, min_one_batch)
    try:
        regions = [chunk for chunk in sending.chunks if isinstance(chunk, FileRegion)]
        assert open_fds() == fds + len(regions)
        got = joined_send(sending.chunks)
        assert got == expected, (offset, max_bytes, max_offset, min_one_batch)
        assert sending.size == plain.size == len(expected)
        assert sum(len(chunk) for chunk in sending.chunks) == sending.size
        assert (sending.log_start_offset, sending.high_watermark, sending.log_end_offset) == (
            plain.log_start_offset,
            plain.high_watermark,
            plain.log_end_offset,
        )
        assert records_from(sending.chunks, offset) == records_from(list(plain.chunks), offset)
        for region in regions:
            assert region.size >= REGION_MIN_BYTES
            assert region.fd >= 0
            check_region_offsets(region)
            # read(skip) serves the tail a writer hands back after a partial sendfile.
            skip = region.size // 3
            assert region.read(skip) == bytes(region)[skip:]
    finally:
        close_regions(sending.chunks)
    assert open_fds() == fds
    return plain, sending


@dataclass(frozen=True)
class LogShape:
    batches: list[tuple[int, int]]  # (record count, about how many bytes)
    segment_bytes: int
    index_interval_bytes: int
    reopen: bool


# Runs of alike batches (a producer's steady size), so logs reach several segments.
batch_runs = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from(BATCH_BYTES), st.integers(1, 8)),
    min_size=1,
    max_size=8,
).map(lambda runs: [(count, size) for count, size, repeat in runs for _ in range(repeat)])

log_shapes = st.builds(
    LogShape,
    batches=batch_runs,
    segment_bytes=st.sampled_from([310 * 1024, 400 * 1024, 1024 * 1024, 1024**3]),
    index_interval_bytes=st.sampled_from([128, 4096, 100_000]),
    reopen=st.booleans(),
)


@pytest.fixture
def scratch() -> Iterator[Callable[[], Path]]:
    """Fresh directories for logs built inside one Hypothesis test (one per example)."""
    with tempfile.TemporaryDirectory(prefix="read-for-sending-") as root:
        count = 0

        def make() -> Path:
            nonlocal count
            count += 1
            return Path(root) / f"topic-{count}"

        yield make


def build_log(directory: Path, shape: LogShape, clock: FakeClock) -> DiskLog:
    config = LogConfig(
        segment_bytes=shape.segment_bytes, index_interval_bytes=shape.index_interval_bytes
    )
    log = DiskLog(directory, config, clock)
    for tag, (count, size) in enumerate(shape.batches):
        log.append(batch_of(tag, count, size))
    commit(log)
    if shape.reopen:
        # A reopened log has indexes loaded from disk, not built by the appends.
        log.close()
        log = DiskLog(directory, config, clock)
    return log


# ------------------------------------------------------------ random disk logs


@FAST
@given(shape=log_shapes, data=st.data())
def test_read_for_sending_returns_the_bytes_read_returns(
    scratch: Callable[[], Path], shape: LogShape, data: st.DataObject
) -> None:
    clock = FakeClock()
    fds_before = open_fds()
    log = build_log(scratch(), shape, clock)
    try:
        end = log.log_end_offset
        if data.draw(st.booleans(), label="move log start"):
            log.delete_records_before(data.draw(st.integers(0, end), label="log start"))
        if data.draw(st.booleans(), label="lower high watermark"):
            log.set_high_watermark(
                data.draw(st.integers(log.log_start_offset, end), label="high watermark")
            )
        start, hw = log.log_start_offset, log.high_watermark
        for _ in range(8):
            offset = data.draw(st.integers(start, end), label="offset")
            max_bytes = data.draw(
                st.one_of(
                    st.integers(0, 400_000),
                    st.sampled_from(
                        [
                            0,
                            1,
                            REGION_MIN_BYTES - 1,
                            REGION_MIN_BYTES,
                            REGION_MIN_BYTES + 1,
                            10_000_000,
                        ]
                    ),
                ),
                label="max_bytes",
            )
            max_offset = data.draw(
                st.one_of(st.none(), st.just(hw), st.integers(start, hw)), label="max_offset"
            )
            min_one_batch = data.draw(st.booleans(), label="min_one_batch")
            _, sending = assert_same_as_read(log, offset, max_bytes, max_offset, min_one_batch)
            regions = sum(isinstance(c, FileRegion) for c in sending.chunks)
            event(f"regions in a read: {min(regions, 3)}")
            event(f"segments: {min(log.segment_count, 4)}")
    finally:
        log.close()
    assert open_fds() == fds_before


def test_a_whole_log_read_in_pieces_is_every_batch_once(make_disk_log: MakeDiskLog) -> None:
    """A consumer's loop over read_for_sending(): every record once, in order, and the large
    reads really do come back as regions (the small ones as bytes)."""
    log = make_disk_log(LogConfig(segment_bytes=300 * 1024, index_interval_bytes=4096))
    values: list[bytes] = []
    for tag in range(60):
        size = [200, 20_000, 90_000, 3_000][tag % 4]
        batch = batch_of(tag, 1 + tag % 3, size)
        values.extend(r.value or b"" for r in decode_batches(batch))
        log.append(batch)
    commit(log)
    assert log.segment_count > 3
    got: list[bytes] = []
    offset, kinds = 0, set[type]()
    while offset < log.high_watermark:
        result = log.read_for_sending(offset, 256 * 1024, log.high_watermark)
        try:
            kinds.update(type(chunk) for chunk in result.chunks)
            data = joined_send(result.chunks)
        finally:
            close_regions(result.chunks)
        decoded = [r for r in decode_batches(data) if r.offset >= offset]
        got.extend(r.value or b"" for r in decoded)
        offset = decoded[-1].offset + 1
    assert got == values
    assert FileRegion in kinds
    # One read over several segments: a region from each that holds a long enough run.
    whole = log.read_for_sending(0, 10**8)
    try:
        assert sum(isinstance(c, FileRegion) for c in whole.chunks) >= 3
        assert [r.value for r in decode_batches(joined_send(whole.chunks))] == values
        assert records_from(whole.chunks, 0) == len(values)
    finally:
        close_regions(whole.chunks)
    assert_same_as_read(log, 0, 10**8, None, True)
    small = log.read_for_sending(0, REGION_MIN_BYTES - 1)
    assert small.chunks and not any(isinstance(c, FileRegion) for c in small.chunks)


def test_region_boundaries_around_the_threshold(make_disk_log: MakeDiskLog) -> None:
    """Exactly REGION_MIN_BYTES of batches is a region; one byte of budget less is not."""
    log = make_disk_log(LogConfig(index_interval_bytes=4096))
    one = batch_of(0, 1, 1000)
    # Batches whose total is exactly REGION_MIN_BYTES: pad the last one to the remainder.
    batches: list[bytes] = []
    while sum(map(len, batches)) + 2 * len(one) <= REGION_MIN_BYTES:
        batches.append(batch_of(len(batches), 1, 1000))
    remainder = REGION_MIN_BYTES - sum(map(len, batches))
    filler = batch_of(len(batches), 1, 1000)
    last = batch_of(len(batches), 1, 1000 + remainder - len(filler))
    batches.append(last)
    assert sum(map(len, batches)) == REGION_MIN_BYTES
    for batch in [*batches, batch_of(999, 1, 5000)]:
        log.append(batch)
    commit(log)
    exact = log.read_for_sending(0, REGION_MIN_BYTES)
    try:
        assert [type(c) for c in exact.chunks] == [FileRegion]
        assert exact.size == REGION_MIN_BYTES
    finally:
        close_regions(exact.chunks)
    under = log.read_for_sending(0, REGION_MIN_BYTES - 1)
    assert not any(isinstance(c, FileRegion) for c in under.chunks)
    for max_bytes in (REGION_MIN_BYTES - 1, REGION_MIN_BYTES, REGION_MIN_BYTES + 4999, 10**7):
        for offset in (0, 1, len(batches) - 1, len(batches)):
            assert_same_as_read(log, offset, max_bytes, None, True)
            assert_same_as_read(log, offset, max_bytes, None, False)


# --------------------------------------------------------------- compacted log


COMPACT = LogConfig(
    cleanup_policy="compact",
    segment_bytes=256 * 1024,
    index_interval_bytes=1024,
    min_cleanable_dirty_ratio=0.0,
)


def test_compacted_log_with_offset_gaps(make_disk_log: MakeDiskLog, clock: FakeClock) -> None:
    log = make_disk_log(COMPACT)
    latest: dict[bytes, bytes] = {}
    for i in range(900):
        key = f"key-{i % 70}".encode()
        size = [300, 2_500, 9_000][i % 3]
        value = f"value-{i}-".encode().ljust(size, b"v")
        # Some batches of several records: the cleaner keeps only some of them.
        records = [Record(key=key, value=value, timestamp_ms=START_MS)]
        if i % 7 == 0:
            other = f"key-{(i + 1) % 70}".encode()
            records.append(Record(key=other, value=value + b"+", timestamp_ms=START_MS))
        log.append(build_batch(records))
        for r in records:
            latest[r.key or b""] = r.value or b""
    log.roll()
    commit(log)
    result = log.clean(clock.now)
    assert result.cleaned and result.records_removed > 0
    end = log.log_end_offset
    # Survivors are sparse: the offsets between them are gaps a read must step over.
    survivors = [r.offset for r in decode_batches(joined(log.read(0, 10**8).chunks))]
    assert len(survivors) < end // 4
    found_region = False
    for offset in range(0, end + 1, 7):
        for max_bytes in (0, 5_000, REGION_MIN_BYTES - 1, REGION_MIN_BYTES + 1, 150_000, 10**7):
            for min_one_batch in (True, False):
                _, sending = assert_same_as_read(log, offset, max_bytes, None, min_one_batch)
                found_region |= any(isinstance(c, FileRegion) for c in sending.chunks)
    assert found_region
    # Every survivor is the latest value of its key, whichever way the log is read.
    region_read = log.read_for_sending(0, 10**8)
    try:
        kept = {r.key: r.value for r in decode_batches(joined_send(region_read.chunks))}
    finally:
        close_regions(region_read.chunks)
    assert kept == latest


# ------------------------------------------------ regions outlive their segment


def big_log(log: DiskLog, batches: int = 30, size: int = 40_000) -> None:
    for tag in range(batches):
        log.append(batch_of(tag, 2, size))
    commit(log)


def take_region(log: DiskLog, offset: int = 0) -> tuple[FileRegion, bytes]:
    """A region at `offset`, and the bytes read() gives for the same arguments."""
    expected = joined(log.read(offset, 200_000).chunks)
    result = log.read_for_sending(offset, 200_000)
    regions = [c for c in result.chunks if isinstance(c, FileRegion)]
    assert len(result.chunks) == 1 and len(regions) == 1, result.chunks
    assert bytes(regions[0]) == expected
    return regions[0], expected


def test_region_survives_delete_records_removing_its_segment(
    make_disk_log: MakeDiskLog,
) -> None:
    log = make_disk_log(LogConfig(segment_bytes=256 * 1024, index_interval_bytes=4096))
    big_log(log)
    first_segment = log.directory / f"{0:020d}.log"
    assert first_segment.exists() and log.segment_count > 2
    region, expected = take_region(log)
    log.delete_records_before(log.high_watermark)
    assert not first_segment.exists()
    assert bytes(region) == expected
    assert region.read(1000) == expected[1000:]
    region.close()


def test_region_survives_retention(make_disk_log: MakeDiskLog, clock: FakeClock) -> None:
    config = LogConfig(segment_bytes=256 * 1024, index_interval_bytes=4096, retention_ms=1000)
    log = make_disk_log(config)
    big_log(log)
    region, expected = take_region(log, 3)
    clock.advance(10_000)
    assert log.apply_retention(clock.now) > 0
    assert not (log.directory / f"{0:020d}.log").exists()
    assert bytes(region) == expected
    region.close()


def test_region_survives_deleting_the_whole_log(make_disk_log: MakeDiskLog) -> None:
    log = make_disk_log(LogConfig(segment_bytes=256 * 1024, index_interval_bytes=4096))
    big_log(log)
    regions = [take_region(log, offset) for offset in (0, 17, 40)]
    directory = log.directory
    log.delete()
    assert not directory.exists()
    for region, expected in regions:
        assert bytes(region) == expected
        region.close()


def test_region_survives_close_and_a_compaction_swap(
    make_disk_log: MakeDiskLog, clock: FakeClock
) -> None:
    log = make_disk_log(COMPACT)
    for i in range(300):
        log.append(
            build_batch(
                [
                    Record(
                        key=f"k{i % 10}".encode(),
                        value=bytes(3000) + b"%d" % i,
                        timestamp_ms=START_MS,
                    )
                ]
            )
        )
    log.roll()
    commit(log)
    region, expected = take_region(log)
    assert log.clean(clock.now).cleaned
    # The cleaner replaced the segment the region was taken from.
    assert joined(log.read(0, 200_000).chunks) != expected
    assert bytes(region) == expected
    log.close()
    assert bytes(region) == expected
    region.close()


def test_region_of_the_active_segment_is_unchanged_by_later_appends(
    make_disk_log: MakeDiskLog,
) -> None:
    log = make_disk_log(LogConfig(segment_bytes=400 * 1024, index_interval_bytes=4096))
    big_log(log, batches=4)
    region, expected = take_region(log)
    assert log.segment_count == 1
    for tag in range(4, 40):  # fills the segment, rolls, and goes on in new ones
        log.append(batch_of(tag, 2, 40_000))
    commit(log)
    assert log.segment_count > 2
    assert bytes(region) == expected
    assert joined(log.read(0, region.size).chunks) == expected
    region.close()


def test_an_unsent_region_closes_its_descriptor_when_dropped(
    make_disk_log: MakeDiskLog,
) -> None:
    log = make_disk_log(LogConfig(index_interval_bytes=4096))
    big_log(log, batches=5)
    log.read(0, 10**7)
    fds = open_fds()
    result = log.read_for_sending(0, 10**7)
    assert any(isinstance(c, FileRegion) for c in result.chunks)
    assert open_fds() > fds
    del result
    assert open_fds() == fds
    region, _ = take_region(log)
    region.close()
    region.close()  # closing twice is harmless
    assert open_fds() == fds


def test_a_region_whose_file_shrank_raises_rather_than_serving_short(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(bytes(range(256)) * 400)
    fd = os.open(path, os.O_RDONLY)
    region = FileRegion(fd, 1000, 100_000, 0, 0)
    assert len(region) == 100_000
    assert bytes(region) == (bytes(range(256)) * 400)[1000:101_000]
    os.truncate(path, 50_000)
    with pytest.raises(OSError):
        bytes(region)
    region.close()


# ------------------------------------------------------------------ memory log


@settings(max_examples=30, deadline=None)
@given(
    batches=st.lists(
        st.tuples(st.integers(1, 4), st.sampled_from(BATCH_BYTES)), min_size=1, max_size=16
    ),
    segment_bytes=st.sampled_from([310 * 1024, 1024 * 1024]),
    data=st.data(),
)
def test_memory_log_read_for_sending_is_read(
    batches: list[tuple[int, int]], segment_bytes: int, data: st.DataObject
) -> None:
    log = MemoryLog(LogConfig(segment_bytes=segment_bytes), FakeClock())
    for tag, (count, size) in enumerate(batches):
        log.append(batch_of(tag, count, size))
    commit(log)
    start, end = log.log_start_offset, log.log_end_offset
    for _ in range(6):
        offset = data.draw(st.integers(start, end))
        max_bytes = data.draw(st.integers(0, 700_000))
        max_offset = data.draw(st.one_of(st.none(), st.integers(start, end)))
        min_one_batch = data.draw(st.booleans())
        plain = log.read(offset, max_bytes, max_offset, min_one_batch)
        sending = log.read_for_sending(offset, max_bytes, max_offset, min_one_batch)
        assert not any(isinstance(c, FileRegion) for c in sending.chunks)
        assert joined_send(sending.chunks) == joined(plain.chunks)
        assert sending.size == plain.size
        assert records_from(sending.chunks, offset) == records_from(list(plain.chunks), offset)
    log.close()
