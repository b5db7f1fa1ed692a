"""Turning a produce request's records into log bytes, shared by both engines.

One pass over the batch headers: validate each (length, magic, CRC32C, size limit), then
number the batches: base offset and leader epoch (outside the CRC, so no recompute) and, for
LogAppendTime topics, the timestamp (which does recompute that batch's CRC). Records are never
decoded. The result carries, per batch, the four numbers the engines index by, so nothing
downstream parses a header again.

Small appends are copied into one bytearray and patched in place (the tail cache and the memory
engine keep that buffer). Large ones of a few batches are not copied: each batch becomes its
patched first 16 bytes plus a view of the rest of the caller's bytes, which the disk engine
writes with one `writev`. On 1 MiB produce requests the copy was a whole extra pass over every
byte in the broker's one thread.

The one exception is a compacted topic: as Kafka's LogValidator does, every record must have a
key (compaction keeps the latest value *per key*), so those batches are decoded once here and
a keyless record fails the append with INVALID_RECORD.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rafka.log.api import LogConfig
from rafka.records.batch import (
    BatchHeader,
    BatchTooLargeError,
    InvalidBatchError,
    TimestampType,
    set_log_append_time,
    validate_batches,
)
from rafka.records.builder import decode_batch
from rafka.records.compression import CompressionUnavailableError

NO_TIMESTAMP = -1
#: Appends at least this large, of at most UNCOPIED_MAX_BATCHES batches, are not copied
#: (larger than the tail cache, so it never needs them as one buffer).
UNCOPIED_MIN_BYTES = 64 * 1024
UNCOPIED_MAX_BATCHES = 8  # two buffers a batch; keeps a writev well under IOV_MAX
# A batch's base offset (bytes 0-8) and partition leader epoch (12-16) are what numbering it
# changes; the batch length between them is copied along.
_NUMBERED_HEAD = 16
_NUMBERED = struct.Struct(">qii")  # base offset, batch length, partition leader epoch

Buffer = bytes | bytearray | memoryview


@dataclass(slots=True)
class PreparedAppend:
    # The log bytes, in order: one buffer, or (uncopied) a patched head and a view per batch.
    pieces: list[Buffer]
    size: int
    copied: bytearray | None  # the one buffer, when the bytes were copied
    # Per batch, in order: (size, base offset, last offset, max timestamp).
    spans: list[tuple[int, int, int, int]]
    first_offset: int
    last_offset: int
    log_append_time_ms: int

    def joined(self) -> Buffer:
        """The log bytes as one buffer of their own (joined if they were not copied)."""
        return self.copied if self.copied is not None else b"".join(self.pieces)


def prepare_append(
    records: bytes | bytearray | memoryview,
    next_offset: int,
    leader_epoch: int,
    config: LogConfig,
    now_ms: int,
) -> PreparedAppend:
    """Validate and number `records` as the batches following `next_offset`.

    Raises a BatchError subclass (nothing has been written anywhere then).
    """
    headers = validate_batches(records, config.max_message_bytes)
    if len(records) > config.segment_bytes:
        # Kafka's RecordBatchTooLargeException: one append must fit in one segment.
        raise BatchTooLargeError(
            f"append of {len(records)} bytes exceeds segment.bytes={config.segment_bytes}"
        )
    if config.compacts:
        _require_keys(records, headers)
    log_append_time = config.message_timestamp_type == TimestampType.LOG_APPEND_TIME
    uncopied = (
        len(records) >= UNCOPIED_MIN_BYTES
        and len(headers) <= UNCOPIED_MAX_BATCHES
        and not log_append_time  # that rewrites the timestamp and CRC, inside the batch
    )
    data = bytearray() if uncopied else bytearray(records)
    view = memoryview(records)
    pieces: list[Buffer] = [] if uncopied else [data]
    spans: list[tuple[int, int, int, int]] = []
    position = 0
    offset = next_offset
    for header in headers:
        size = header.batch_length + 12
        if uncopied:  # number a copy of the head; the rest is the caller's, as a view
            target, at = bytearray(view[position : position + _NUMBERED_HEAD]), 0
            pieces += (target, view[position + _NUMBERED_HEAD : position + size])
        else:
            target, at = data, position
        # Base offset and leader epoch in one pack (the batch length between them rewritten
        # as it is): one call instead of two on every append.
        _NUMBERED.pack_into(target, at, offset, header.batch_length, leader_epoch)
        if log_append_time:
            set_log_append_time(target, at, header, now_ms)
            max_timestamp = now_ms
        else:
            max_timestamp = header.max_timestamp
        last = offset + header.last_offset_delta
        spans.append((size, offset, last, max_timestamp))
        position += size
        offset = last + 1
    return PreparedAppend(
        pieces=pieces,
        size=len(records),
        copied=None if uncopied else data,
        spans=spans,
        first_offset=next_offset,
        last_offset=offset - 1,
        log_append_time_ms=now_ms if log_append_time else NO_TIMESTAMP,
    )


def _require_keys(records: bytes | bytearray | memoryview, headers: list[BatchHeader]) -> None:
    position = 0
    for header in headers:
        if not header.is_control:
            try:
                decoded = decode_batch(records, position)
            except CompressionUnavailableError as exc:
                raise InvalidBatchError(
                    f"cannot check the keys of a compacted topic: {exc}"
                ) from exc
            if any(record.key is None for record in decoded):
                raise InvalidBatchError("a compacted topic cannot accept a record without a key")
        position += header.batch_length + 12
