"""Finding the exact record for ListOffsets inside one batch, shared by both engines.

The indexes narrow a timestamp lookup down to one batch using batch max timestamps; Kafka
then answers with the first *record* in that batch whose timestamp is >= the target, so this
decodes that single batch. If it cannot be decoded (a codec package is missing, or a producer
wrote a maxTimestamp that no record has), the answer falls back to the batch itself.
"""

from __future__ import annotations

import logging

from rafka.log.api import TimestampOffset
from rafka.records.batch import BatchError
from rafka.records.builder import decode_batch
from rafka.records.compression import CompressionUnavailableError

logger = logging.getLogger("rafka.log")


def first_record_at_or_after(
    batch: bytes | memoryview,
    timestamp_ms: int,
    min_offset: int,
    batch_base_offset: int,
    batch_max_timestamp: int,
) -> TimestampOffset:
    """The first record of `batch` with timestamp >= `timestamp_ms` and offset >= `min_offset`."""
    try:
        for record in decode_batch(batch):
            if record.timestamp_ms >= timestamp_ms and record.offset >= min_offset:
                return TimestampOffset(record.timestamp_ms, record.offset)
    except (BatchError, CompressionUnavailableError) as exc:
        logger.warning("cannot decode batch at offset %d: %s", batch_base_offset, exc)
    return TimestampOffset(batch_max_timestamp, max(batch_base_offset, min_offset))


def record_with_timestamp(
    batch: bytes | memoryview, timestamp_ms: int, batch_base_offset: int
) -> TimestampOffset:
    """The first record of `batch` whose timestamp equals `timestamp_ms` (MAX_TIMESTAMP)."""
    return first_record_at_or_after(
        batch, timestamp_ms, batch_base_offset, batch_base_offset, timestamp_ms
    )
