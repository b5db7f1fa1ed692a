"""Kafka v2 record batch headers, checked and patched without decoding a single record.

Layout (all big-endian), from Kafka's DefaultRecordBatch:

    offset  size  field
    0       8     baseOffset
    8       4     batchLength            (bytes after this field)
    12      4     partitionLeaderEpoch
    16      1     magic                  (must be 2)
    17      4     crc                    (CRC32C of bytes 21..end)
    21      2     attributes             (bits 0-2 compression, 3 timestamp type,
                                          4 transactional, 5 control)
    23      4     lastOffsetDelta
    27      8     baseTimestamp
    35      8     maxTimestamp
    43      8     producerId
    51      2     producerEpoch
    53      4     baseSequence
    57      4     recordCount
    61            records...

baseOffset and partitionLeaderEpoch sit outside the CRC on purpose: a broker assigns them
without recomputing the checksum. Rewriting the timestamp type (LogAppendTime) does change
CRC-covered bytes, so that path recomputes it.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from typing import NamedTuple

from crc32c import crc32c

BATCH_HEADER_SIZE = 61
# baseOffset + batchLength: the part of the header not counted by batchLength.
LOG_OVERHEAD = 12
MAGIC_V2 = 2
CRC_START = 21
#: Where producerId (an int64) sits, for callers that need only that field.
PRODUCER_ID_AT = 43

_HEADER = struct.Struct(">qiibIhiqqqhii")
_OFFSET = struct.Struct(">q")
_LENGTH = struct.Struct(">i")
_CRC = struct.Struct(">I")
_ATTRIBUTES = struct.Struct(">h")
_TIMESTAMP = struct.Struct(">q")

_COMPRESSION_MASK = 0x07
_TIMESTAMP_TYPE_BIT = 0x08
# Set by compaction (KIP-534): baseTimestamp then holds the tombstones' delete horizon.
_DELETE_HORIZON_BIT = 0x40
_TRANSACTIONAL_BIT = 0x10
_CONTROL_BIT = 0x20


class Compression(enum.IntEnum):
    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4


class TimestampType(enum.IntEnum):
    CREATE_TIME = 0
    LOG_APPEND_TIME = 1


class BatchError(ValueError):
    """A record batch failed a check; nothing from the request may be written."""


class CorruptBatchError(BatchError):
    """Bytes that cannot be a record batch: bad CRC, truncated, impossible length
    (Kafka's CORRUPT_MESSAGE)."""


class InvalidBatchError(BatchError):
    """A well-formed batch the broker refuses: wrong magic, bad compression codec, negative
    record count (Kafka's INVALID_RECORD)."""


class BatchTooLargeError(BatchError):
    """A batch larger than max.message.bytes (Kafka's MESSAGE_TOO_LARGE)."""


class BatchHeader(NamedTuple):
    """The 61-byte v2 batch header. A NamedTuple, not a frozen dataclass: it is built for
    every batch on the produce path, and a tuple is ~8x cheaper to construct (3.1 us -> 0.4)."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def size(self) -> int:
        """Bytes this batch occupies in a log, header included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> Compression:
        return Compression(self.attributes & _COMPRESSION_MASK)

    @property
    def first_timestamp(self) -> int:
        """The batch's earliest time as far as the header tells: maxTimestamp for
        LogAppendTime batches (every record has it), else baseTimestamp, unless compaction
        stored a delete horizon there, when maxTimestamp is the closest the header knows."""
        if self.attributes & (_TIMESTAMP_TYPE_BIT | _DELETE_HORIZON_BIT):
            return self.max_timestamp
        return self.base_timestamp

    @property
    def timestamp_type(self) -> TimestampType:
        if self.attributes & _TIMESTAMP_TYPE_BIT:
            return TimestampType.LOG_APPEND_TIME
        return TimestampType.CREATE_TIME

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & _TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & _CONTROL_BIT)



# tuple.__new__ skips NamedTuple's Python-level __new__; the field count is fixed by _HEADER.
_new_header = tuple.__new__

def parse_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Read the batch header at `pos`. Raises CorruptBatchError if fewer than 61 bytes remain."""
    if len(buf) - pos < BATCH_HEADER_SIZE:
        raise CorruptBatchError(
            f"record batch header truncated: {len(buf) - pos} of {BATCH_HEADER_SIZE} bytes"
        )
    return _new_header(BatchHeader, _HEADER.unpack_from(buf, pos))


def check_stored_batch(
    buf: bytes | bytearray | memoryview,
    pos: int = 0,
    max_batch_bytes: int | None = None,
    *,
    consecutive: bool = False,
) -> BatchHeader:
    """Check a batch as a log may hold it: length, magic, size limit (if given), CRC32C,
    codec, counts.

    A record count below lastOffsetDelta + 1 is fine here: the log cleaner keeps a rewritten
    batch's offset span and drops records from inside it, so a compacted batch has gaps
    between its offsets, exactly as in Kafka. With `consecutive` (produce requests, through
    `check_batch`) the count must be exactly lastOffsetDelta + 1.
    """
    # Checked on the unpacked fields as locals, the header tuple built once at the end:
    # every produced batch passes here (validate_batches 2.0 -> 1.6 us for one small batch).
    if len(buf) - pos < BATCH_HEADER_SIZE:
        raise CorruptBatchError(
            f"record batch header truncated: {len(buf) - pos} of {BATCH_HEADER_SIZE} bytes"
        )
    fields = _HEADER.unpack_from(buf, pos)
    batch_length = fields[1]
    magic = fields[3]
    crc = fields[4]
    attributes = fields[5]
    last_offset_delta = fields[6]
    record_count = fields[12]
    if batch_length < BATCH_HEADER_SIZE - LOG_OVERHEAD:
        raise CorruptBatchError(f"record batch length {batch_length} is impossible")
    size = batch_length + LOG_OVERHEAD
    end = pos + size
    if end > len(buf):
        raise CorruptBatchError(
            f"record batch truncated: needs {size} bytes, {len(buf) - pos} present"
        )
    if magic != MAGIC_V2:
        raise InvalidBatchError(f"record batch magic {magic} is not supported (need 2)")
    if max_batch_bytes is not None and size > max_batch_bytes:
        raise BatchTooLargeError(
            f"record batch of {size} bytes exceeds max.message.bytes={max_batch_bytes}"
        )
    actual = crc32c(memoryview(buf)[pos + CRC_START : end])
    if actual != crc:
        raise CorruptBatchError(
            f"record batch CRC mismatch: stored {crc:#010x}, computed {actual:#010x}"
        )
    if attributes & _COMPRESSION_MASK > Compression.ZSTD:
        raise InvalidBatchError(
            f"record batch compression codec {attributes & _COMPRESSION_MASK} is unknown"
        )
    if record_count < 0 or last_offset_delta < 0:
        raise InvalidBatchError(
            f"record batch has record count {record_count} and last offset delta "
            f"{last_offset_delta}"
        )
    if consecutive and record_count != last_offset_delta + 1:
        # Producers write consecutive offset deltas, so a mismatch means the header lies about
        # its contents (Kafka's "inconsistent batch offset range", INVALID_RECORD).
        raise InvalidBatchError(
            f"record batch claims {record_count} records but last offset delta "
            f"{last_offset_delta}"
        )
    if record_count > last_offset_delta + 1:
        raise CorruptBatchError(
            f"record batch claims {record_count} records in an offset span of "
            f"{last_offset_delta + 1}"
        )
    header: BatchHeader = _new_header(BatchHeader, fields)
    return header


def check_batch(
    buf: bytes | bytearray | memoryview, pos: int, max_batch_bytes: int | None = None
) -> BatchHeader:
    """Check one batch of a Produce request at `pos`: everything `check_stored_batch` checks,
    plus max.message.bytes and consecutive offsets (record count == lastOffsetDelta + 1)."""
    return check_stored_batch(buf, pos, max_batch_bytes, consecutive=True)


def validate_batches(
    buf: bytes | bytearray | memoryview, max_batch_bytes: int | None = None
) -> list[BatchHeader]:
    """Check every batch in a Produce request's records field; all must pass.

    Returns the headers in order. Raises a BatchError subclass naming the first problem.
    An empty buffer is invalid: a Produce with no batches for a partition is a client bug.
    """
    if len(buf) == 0:
        raise InvalidBatchError("no record batches in request")
    headers: list[BatchHeader] = []
    pos = 0
    while pos < len(buf):
        header = check_stored_batch(buf, pos, max_batch_bytes, consecutive=True)  # check_batch
        headers.append(header)
        pos += header.batch_length + LOG_OVERHEAD
    return headers


def iter_batches(
    buf: bytes | bytearray | memoryview, pos: int = 0
) -> Iterator[tuple[int, BatchHeader]]:
    """Yield (position, header) for every complete batch in `buf`, without checking CRCs.

    Stops at the first incomplete batch (a fetch response may end with a partial batch).
    """
    end = len(buf)
    while end - pos >= BATCH_HEADER_SIZE:
        header = _new_header(BatchHeader, _HEADER.unpack_from(buf, pos))
        if header.batch_length < BATCH_HEADER_SIZE - LOG_OVERHEAD or pos + header.size > end:
            return
        yield pos, header
        pos += header.size


def set_base_offset(buf: bytearray | memoryview, pos: int, base_offset: int) -> None:
    """Assign the batch's base offset in place (outside the CRC, so no recompute)."""
    _OFFSET.pack_into(buf, pos, base_offset)


def set_partition_leader_epoch(buf: bytearray | memoryview, pos: int, epoch: int) -> None:
    """Stamp the leader epoch in place (outside the CRC, so no recompute)."""
    _LENGTH.pack_into(buf, pos + 12, epoch)


def set_log_append_time(
    buf: bytearray | memoryview, pos: int, header: BatchHeader, timestamp_ms: int
) -> None:
    """Mark the batch LogAppendTime with the broker's clock and recompute the CRC.

    Kafka sets the timestamp-type bit and overwrites maxTimestamp; readers then take every
    record's timestamp from maxTimestamp.
    """
    _ATTRIBUTES.pack_into(buf, pos + 21, header.attributes | _TIMESTAMP_TYPE_BIT)
    _TIMESTAMP.pack_into(buf, pos + 35, timestamp_ms)
    end = pos + header.size
    _CRC.pack_into(buf, pos + 17, crc32c(memoryview(buf)[pos + CRC_START : end]))
