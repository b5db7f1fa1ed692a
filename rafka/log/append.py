"""Turning a produce request's records into log bytes, shared by both engines.

One pass over the batch headers: validate each (length, magic, CRC32C, size limit), copy the
request into one bytearray, then patch each header in place: base offset and leader epoch
(outside the CRC, so no recompute) and, for LogAppendTime topics, the timestamp (which does
recompute that batch's CRC). Records are never decoded. The result carries, per batch, the four
numbers the engines index by, so nothing downstream parses a header again.

The one exception is a compacted topic: as Kafka's LogValidator does, every record must have a
key (compaction keeps the latest value *per key*), so those batches are decoded once here and
a keyless record fails the append with INVALID_RECORD.
"""

from __future__ import annotations

from dataclasses import dataclass

from rafka.log.api import LogConfig
from rafka.records.batch import (
    BatchHeader,
    BatchTooLargeError,
    InvalidBatchError,
    TimestampType,
    set_base_offset,
    set_log_append_time,
    set_partition_leader_epoch,
    validate_batches,
)
from rafka.records.builder import decode_batch
from rafka.records.compression import CompressionUnavailableError

NO_TIMESTAMP = -1


@dataclass(slots=True)
class PreparedAppend:
    data: bytearray
    # Per batch, in order: (size, base offset, last offset, max timestamp).
    spans: list[tuple[int, int, int, int]]
    first_offset: int
    last_offset: int
    log_append_time_ms: int


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
    data = bytearray(records)
    log_append_time = config.message_timestamp_type == TimestampType.LOG_APPEND_TIME
    spans: list[tuple[int, int, int, int]] = []
    position = 0
    offset = next_offset
    for header in headers:
        set_base_offset(data, position, offset)
        set_partition_leader_epoch(data, position, leader_epoch)
        if log_append_time:
            set_log_append_time(data, position, header, now_ms)
            max_timestamp = now_ms
        else:
            max_timestamp = header.max_timestamp
        last = offset + header.last_offset_delta
        size = header.batch_length + 12
        spans.append((size, offset, last, max_timestamp))
        position += size
        offset = last + 1
    return PreparedAppend(
        data=data,
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
