"""Helpers shared by the log tests: a settable clock, batch factories, readers."""

from __future__ import annotations

from collections.abc import Callable

from rafka.log import PartitionLog
from rafka.records import Compression, Record, build_batch, decode_batches

START_MS = 1_700_000_000_000

LogFactory = Callable[..., PartitionLog]


class FakeClock:
    def __init__(self, now: int = START_MS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


def make_batch(
    count: int = 1,
    value_size: int = 10,
    timestamp: int = START_MS,
    tag: int = 0,
    compression: Compression = Compression.NONE,
    timestamps: list[int] | None = None,
) -> bytes:
    """A batch of `count` records whose values say which batch (tag) and record they are."""
    records = []
    for i in range(count):
        value = f"{tag}:{i}:".encode().ljust(value_size, b"x")
        ts = timestamps[i] if timestamps is not None else timestamp
        records.append(Record(key=f"k{i}".encode(), value=value, timestamp_ms=ts))
    return build_batch(records, compression=compression)


def commit(log: PartitionLog) -> None:
    """Advance the high watermark to the log end, as the single-node broker does."""
    log.set_high_watermark(log.log_end_offset)


def joined(chunks: list[bytes | memoryview]) -> bytes:
    return b"".join(bytes(chunk) for chunk in chunks)


def read_all(log: PartitionLog, start: int | None = None) -> list[Record]:
    """Every record from `start` (default: log start) to the log end, via reads of ~4 KiB."""
    offset = log.log_start_offset if start is None else start
    records: list[Record] = []
    while offset < log.log_end_offset:
        result = log.read(offset, 4096)
        assert result.size > 0, f"read at {offset} returned nothing"
        batch_records = decode_batches(joined(result.chunks))
        records.extend(r for r in batch_records if r.offset >= offset)
        offset = batch_records[-1].offset + 1
    return records
