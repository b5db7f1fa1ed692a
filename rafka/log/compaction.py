"""Log compaction on record batches: which records survive, and the rewritten batch.

This is the cold path of the log: the cleaner decodes records here (with `rafka.records`),
never on append or read. Kafka's rules (LogCleaner, MemoryRecords.filterTo), per record:

- a record whose key has a later offset in the offset map (the dirty part of the log) is
  superseded and goes;
- a record without a key goes (a compacted topic refuses them at produce time, so one can only
  come from before the topic became compacted; Kafka's cleaner drops them too);
- a tombstone (null value) that is the latest for its key stays until its batch's *delete
  horizon* has passed (KIP-534): the first clean that keeps a tombstone stamps its batch with
  horizon = now + delete.retention.ms, and a clean after that time drops it.

Per batch: a control batch is kept as it is; a batch left with no records goes; a batch that
keeps every record and needs no horizon stamp is copied byte for byte; anything else is
rewritten. A rewritten batch keeps its base offset and last offset delta (so the survivors keep
their offsets and the batch has gaps inside, as in Kafka), its partition leader epoch,
producer id, epoch and base sequence, its attributes and its codec: it is *recompressed with
the same codec*, so compaction never makes a compressed topic bigger on disk. The CRC32C is
recomputed. Record timestamps are unchanged; the batch's base timestamp is the first
survivor's (Kafka's builder does the same), or the delete horizon when the batch carries one
(the horizon flag, attribute bit 6, says so; record timestamp deltas are written relative to
it, so readers still see every record's own timestamp).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from crc32c import crc32c

from rafka.records import BatchError, BatchHeader, Record
from rafka.records.batch import BATCH_HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2, Compression
from rafka.records.builder import decode_batch, encode_records
from rafka.records.compression import CompressionUnavailableError, compress

logger = logging.getLogger("rafka.log")

TIMESTAMP_TYPE_BIT = 0x08
CONTROL_BIT = 0x20
# Kafka's DefaultRecordBatch: baseTimestamp holds the delete horizon (KIP-534).
DELETE_HORIZON_BIT = 0x40

_PRE_CRC = struct.Struct(">qiib")
_CRC = struct.Struct(">I")
_POST_CRC = struct.Struct(">hiqqqhii")


class UndecodableBatch(Exception):
    """The cleaner cannot read this batch's records (missing codec package, bad bytes)."""


def has_delete_horizon(header: BatchHeader) -> bool:
    return bool(header.attributes & DELETE_HORIZON_BIT)


def batch_records(data: bytes | memoryview, header: BatchHeader) -> list[Record]:
    """The records of one whole batch (`data` is exactly that batch)."""
    try:
        return decode_batch(data)
    except (BatchError, CompressionUnavailableError) as exc:
        raise UndecodableBatch(f"batch at offset {header.base_offset}: {exc}") from exc


@dataclass(slots=True)
class OffsetMap:
    """Key -> offset of its latest record, over the dirty part of the log (Kafka's
    SkimpyOffsetMap, without the hashing: keys are kept as they are)."""

    latest: dict[bytes, int] = field(default_factory=dict)
    # Batches whose keys could not be read: their keys stay unknown, which only ever keeps
    # more records (an older value is dropped only for a key seen later).
    undecodable: int = 0

    def add(self, data: bytes | memoryview, header: BatchHeader) -> None:
        if header.attributes & CONTROL_BIT:
            return
        try:
            records = batch_records(data, header)
        except UndecodableBatch as exc:
            self.undecodable += 1
            logger.warning("log cleaner: %s; its keys are not deduplicated", exc)
            return
        latest = self.latest
        for record in records:
            if record.key is not None:
                latest[record.key] = record.offset

    def __len__(self) -> int:
        return len(self.latest)


@dataclass(slots=True)
class CleanedBatch:
    """The outcome for one batch: `data` None means it was dropped whole."""

    data: bytes | memoryview | None
    records_removed: int = 0
    # The batch's delete horizon if it still holds tombstones (-1: none).
    horizon_ms: int = -1


def clean_batch(
    data: bytes | memoryview,
    header: BatchHeader,
    offset_map: OffsetMap,
    now_ms: int,
    delete_retention_ms: int,
) -> CleanedBatch:
    """Apply the rules above to the batch `data` (exactly one whole batch)."""
    if header.attributes & CONTROL_BIT:
        return CleanedBatch(data)
    try:
        records = batch_records(data, header)
    except UndecodableBatch as exc:
        logger.warning("log cleaner: %s; kept as it is", exc)
        return CleanedBatch(data)
    horizon = header.base_timestamp if has_delete_horizon(header) else -1
    horizon_passed = horizon >= 0 and horizon <= now_ms
    latest = offset_map.latest
    kept: list[Record] = []
    tombstones = False
    for record in records:
        key = record.key
        if key is None:
            continue
        newest = latest.get(key)
        if newest is not None and record.offset < newest:
            continue
        if record.value is None:
            if horizon_passed:
                continue
            tombstones = True
        kept.append(record)
    removed = len(records) - len(kept)
    if not kept:
        return CleanedBatch(None, removed)
    if tombstones and horizon < 0:
        horizon = now_ms + delete_retention_ms
    elif not tombstones:
        horizon = -1
    if not removed and horizon == (header.base_timestamp if has_delete_horizon(header) else -1):
        return CleanedBatch(data, 0, horizon)
    return CleanedBatch(rewrite_batch(header, kept, horizon), removed, horizon)


def rewrite_batch(header: BatchHeader, records: Iterable[Record], horizon_ms: int = -1) -> bytes:
    """Encode `records` (a non-empty subset of the batch's own, in order) as the batch
    `header` describes: same base offset, last offset delta, epoch, producer fields and codec;
    `horizon_ms` >= 0 sets the delete horizon."""
    items = list(records)
    append_time = bool(header.attributes & TIMESTAMP_TYPE_BIT)
    attributes = header.attributes & ~DELETE_HORIZON_BIT
    if horizon_ms >= 0:
        attributes |= DELETE_HORIZON_BIT
        base_timestamp = horizon_ms
    elif append_time:
        base_timestamp = header.base_timestamp
    else:
        base_timestamp = items[0].timestamp_ms
    # LogAppendTime batches take every record's timestamp from maxTimestamp (the broker's
    # clock at append), which is kept; CreateTime batches report their largest survivor.
    if append_time:
        max_timestamp = header.max_timestamp
    else:
        max_timestamp = max(record.timestamp_ms for record in items)
    body = encode_records(items, base_timestamp, header.base_offset)
    codec = Compression(header.attributes & 0x07)
    payload: bytes | bytearray = body if codec == Compression.NONE else compress(codec, body)
    post_crc = _POST_CRC.pack(
        attributes,
        header.last_offset_delta,
        base_timestamp,
        max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        len(items),
    )
    crc = crc32c(payload, crc32c(post_crc))
    length = BATCH_HEADER_SIZE - LOG_OVERHEAD + len(payload)
    pre_crc = _PRE_CRC.pack(header.base_offset, length, header.partition_leader_epoch, MAGIC_V2)
    return b"".join((pre_crc, _CRC.pack(crc), post_crc, payload))
