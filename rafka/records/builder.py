"""Build and decode whole Kafka v2 record batches, records included (Kafka's DefaultRecordBatch
and DefaultRecord).

The log never calls this: it stores and serves batches as opaque bytes and only ever reads the
61-byte header (`rafka.records.batch`). This module is for the places that hold records rather
than batches: tests, front doors that take records (gRPC, HTTP), and the one ListOffsets case
that must look inside a batch to find the exact record with a timestamp.

Record layout inside the (possibly compressed) records section, every varint zigzag-encoded:

    length            varint     bytes after this field
    attributes        int8       unused, always 0
    timestampDelta    varlong    from the batch's baseTimestamp
    offsetDelta       varint     from the batch's baseOffset
    keyLength         varint     -1 for a null key
    key               bytes
    valueLength       varint     -1 for a null value
    value             bytes
    headerCount       varint
    headers           [keyLength varint, key (UTF-8), valueLength varint (-1: null), value]
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from crc32c import crc32c

from rafka.records.batch import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC_V2,
    BatchHeader,
    Compression,
    CorruptBatchError,
    TimestampType,
    check_stored_batch,
    parse_header,
)
from rafka.records.compression import compress, decompress

# baseOffset, batchLength, partitionLeaderEpoch, magic: the bytes before the CRC.
_PRE_CRC = struct.Struct(">qiib")
_CRC = struct.Struct(">I")
# attributes .. recordCount: the CRC-covered part of the header.
_POST_CRC = struct.Struct(">hiqqqhii")
# batchLength counts everything after itself: the 49 header bytes from partitionLeaderEpoch on.
_LENGTH_OF_EMPTY_BATCH = BATCH_HEADER_SIZE - LOG_OVERHEAD

_TIMESTAMP_TYPE_BIT = 0x08
_TRANSACTIONAL_BIT = 0x10
_CONTROL_BIT = 0x20


@dataclass(frozen=True, slots=True)
class Record:
    """One record. `offset` is filled in by decoding; building numbers records consecutively
    from the batch's base offset and ignores it."""

    key: bytes | None = None
    value: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int = 0
    offset: int = 0


def put_uvarint(out: bytearray, value: int) -> None:
    """Append a non-negative `value` as a base-128 varint, low 7 bits first: Kafka's unsigned
    varint and protobuf's varint alike.

    Written by hand because `struct` has no varint format and `int.to_bytes` cannot do base 128;
    appending ints to one bytearray allocates nothing per byte, and the common case (a small
    length or delta) is a single append.
    """
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def put_varint(out: bytearray, value: int) -> None:
    """Append `value` zigzag-encoded as a base-128 varint (Kafka's ByteUtils.writeVarlong)."""
    put_uvarint(out, (value << 1) ^ (value >> 63))


def put_bytes(out: bytearray, data: bytes | None) -> None:
    if data is None:
        out.append(1)  # zigzag(-1)
    else:
        put_varint(out, len(data))
        out += data


def encode_records(
    records: Iterable[Record], base_timestamp: int, base_offset: int | None = None
) -> bytearray:
    """The uncompressed records section for `records`: offset deltas 0, 1, 2, ... or, with
    `base_offset`, each record's own `offset - base_offset` (a compacted batch's gaps)."""
    body = bytearray()
    scratch = bytearray()
    for delta, record in enumerate(records):
        scratch.clear()
        scratch.append(0)  # record attributes (unused by Kafka)
        put_varint(scratch, record.timestamp_ms - base_timestamp)
        put_varint(scratch, delta if base_offset is None else record.offset - base_offset)
        put_bytes(scratch, record.key)
        put_bytes(scratch, record.value)
        put_varint(scratch, len(record.headers))
        for header_key, header_value in record.headers:
            put_bytes(scratch, header_key.encode("utf-8", "surrogateescape"))
            put_bytes(scratch, header_value)
        put_varint(body, len(scratch))
        body += scratch
    return body


def build_batch(
    records: Iterable[Record],
    base_offset: int = 0,
    compression: Compression = Compression.NONE,
    timestamp_type: TimestampType = TimestampType.CREATE_TIME,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    partition_leader_epoch: int = -1,
    *,
    is_transactional: bool = False,
    is_control: bool = False,
) -> bytes:
    """Encode `records` as one v2 batch, numbered base_offset, base_offset + 1, ...

    baseTimestamp is the first record's timestamp and maxTimestamp the largest, as Kafka's
    MemoryRecordsBuilder writes them. Raises ValueError for an empty record list.
    """
    items: Sequence[Record] = records if isinstance(records, (list, tuple)) else list(records)
    if not items:
        raise ValueError("a record batch needs at least one record")
    base_timestamp = items[0].timestamp_ms
    max_timestamp = max(record.timestamp_ms for record in items)
    return batch_from_section(
        encode_records(items, base_timestamp),
        len(items),
        base_timestamp,
        max_timestamp,
        base_offset,
        compression,
        timestamp_type,
        producer_id,
        producer_epoch,
        base_sequence,
        partition_leader_epoch,
        is_transactional=is_transactional,
        is_control=is_control,
    )


def batch_from_section(
    section: bytes | bytearray,
    record_count: int,
    base_timestamp: int,
    max_timestamp: int,
    base_offset: int = 0,
    compression: Compression = Compression.NONE,
    timestamp_type: TimestampType = TimestampType.CREATE_TIME,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    partition_leader_epoch: int = -1,
    *,
    is_transactional: bool = False,
    is_control: bool = False,
) -> bytes:
    """Wrap an uncompressed records section (`record_count` records with offset deltas
    0 .. record_count - 1, as `build_batch` writes them) in a v2 batch header, compressing it
    with `compression`. For callers that write the records themselves (the gRPC publish path)."""
    payload: bytes | bytearray = (
        section if compression == Compression.NONE else compress(compression, section)
    )
    attributes = int(compression)
    if timestamp_type == TimestampType.LOG_APPEND_TIME:
        attributes |= _TIMESTAMP_TYPE_BIT
    if is_transactional:
        attributes |= _TRANSACTIONAL_BIT
    if is_control:
        attributes |= _CONTROL_BIT
    post_crc = _POST_CRC.pack(
        attributes,
        record_count - 1,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        record_count,
    )
    crc = crc32c(payload, crc32c(post_crc))
    pre_crc = _PRE_CRC.pack(
        base_offset, _LENGTH_OF_EMPTY_BATCH + len(payload), partition_leader_epoch, MAGIC_V2
    )
    return b"".join((pre_crc, _CRC.pack(crc), post_crc, payload))


def read_uvarint(
    data: bytes | bytearray | memoryview, pos: int, max_bytes: int = 10
) -> tuple[int, int]:
    """(value, next position) of the unsigned varint at `pos` (Kafka's readUnsignedVarint,
    the reader of `put_uvarint`). Raises IndexError if `data` ends inside it, ValueError if it
    runs past `max_bytes`."""
    value = shift = 0
    limit = 7 * max_bytes
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= limit:
            raise ValueError(f"varint longer than {max_bytes} bytes")


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the zigzag varint at `pos` (Kafka's ByteUtils.readVarlong)."""
    byte = data[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    raw = byte & 0x7F
    shift = 7
    pos += 1
    while True:
        byte = data[pos]
        raw |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
        shift += 7
        if shift > 63:
            raise CorruptBatchError("varint longer than 10 bytes")


def read_bytes(data: bytes, pos: int) -> tuple[bytes | None, int]:
    """(bytes or None for length -1, next position) of the length-prefixed field at `pos`."""
    length, pos = read_varint(data, pos)
    if length < 0:
        if length != -1:
            raise CorruptBatchError(f"negative field length {length}")
        return None, pos
    end = pos + length
    if end > len(data):
        raise CorruptBatchError(f"field of {length} bytes overruns its record")
    return data[pos:end], end


def decode_batch(buf: bytes | bytearray | memoryview, pos: int = 0) -> list[Record]:
    """The records of the batch at `pos` (checked: length, magic, CRC; decompressed).

    Raises CorruptBatchError / InvalidBatchError for bad bytes and CompressionUnavailableError
    when the codec's package is missing.
    """
    header = check_stored_batch(buf, pos)
    return _decode_records(buf, pos, header)


def records_section(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[BatchHeader, bytes]:
    """The header and the uncompressed records section of the batch at `pos`, checked as
    `decode_batch` checks it, for callers that parse the records themselves (gRPC Consume)."""
    header = check_stored_batch(buf, pos)
    section = memoryview(buf)[pos + BATCH_HEADER_SIZE : pos + header.size]
    return header, decompress(header.compression, section)


def decode_batches(buf: bytes | bytearray | memoryview) -> list[Record]:
    """The records of every complete batch in `buf`, in order.

    A partial batch at the end is ignored, as consumers do with fetch responses (which may end
    mid-batch); a damaged complete batch raises.
    """
    out: list[Record] = []
    pos = 0
    end = len(buf)
    while end - pos >= BATCH_HEADER_SIZE:
        header = parse_header(buf, pos)
        if header.batch_length >= _LENGTH_OF_EMPTY_BATCH and pos + header.size > end:
            break
        header = check_stored_batch(buf, pos)
        out.extend(_decode_records(buf, pos, header))
        pos += header.size
    return out


def _decode_records(
    buf: bytes | bytearray | memoryview, pos: int, header: BatchHeader
) -> list[Record]:
    data = decompress(
        header.compression, memoryview(buf)[pos + BATCH_HEADER_SIZE : pos + header.size]
    )
    base_offset = header.base_offset
    base_timestamp = header.base_timestamp
    append_time = header.max_timestamp if header.attributes & _TIMESTAMP_TYPE_BIT else None
    get_varint = read_varint
    get_bytes = read_bytes
    records: list[Record] = []
    append = records.append
    p = 0
    # Varints of one or two bytes (values below 8192 in magnitude: lengths, deltas, counts)
    # are decoded inline: a function call costs more than decoding them. Overruns are caught
    # once per record, by comparing where its fields end with its length.
    try:
        for _ in range(header.record_count):
            b = data[p]
            if b < 0x80:
                length = (b >> 1) ^ -(b & 1)
                p += 1
            elif data[p + 1] < 0x80:
                raw = (b & 0x7F) | (data[p + 1] << 7)
                length = (raw >> 1) ^ -(raw & 1)
                p += 2
            else:
                length, p = get_varint(data, p)
            end = p + length
            if length < 1 or end > len(data):
                raise CorruptBatchError(f"record length {length} overruns the batch")
            p += 1  # record attributes
            b = data[p]
            if b < 0x80:
                timestamp_delta = (b >> 1) ^ -(b & 1)
                p += 1
            elif data[p + 1] < 0x80:
                raw = (b & 0x7F) | (data[p + 1] << 7)
                timestamp_delta = (raw >> 1) ^ -(raw & 1)
                p += 2
            else:
                timestamp_delta, p = get_varint(data, p)
            b = data[p]
            if b < 0x80:
                offset_delta = (b >> 1) ^ -(b & 1)
                p += 1
            elif data[p + 1] < 0x80:
                raw = (b & 0x7F) | (data[p + 1] << 7)
                offset_delta = (raw >> 1) ^ -(raw & 1)
                p += 2
            else:
                offset_delta, p = get_varint(data, p)
            b = data[p]
            if b == 1:  # zigzag(-1): null
                key = None
                p += 1
            elif b < 0x80 and not b & 1:  # odd: a negative length, refused by get_bytes
                p += 1
                key = data[p : p + (b >> 1)]
                p += b >> 1
            else:
                key, p = get_bytes(data, p)
            b = data[p]
            if b == 1:
                value = None
                p += 1
            elif b < 0x80 and not b & 1:
                p += 1
                value = data[p : p + (b >> 1)]
                p += b >> 1
            elif data[p + 1] < 0x80 and not b & 1:
                size = ((b & 0x7F) | (data[p + 1] << 7)) >> 1
                p += 2
                value = data[p : p + size]
                p += size
            else:
                value, p = get_bytes(data, p)
            b = data[p]
            if b == 0:
                headers: tuple[tuple[str, bytes | None], ...] = ()
                p += 1
            else:
                header_count, p = get_varint(data, p)
                if header_count < 0:
                    raise CorruptBatchError(f"record header count {header_count}")
                pairs: list[tuple[str, bytes | None]] = []
                for _ in range(header_count):
                    header_key, p = get_bytes(data, p)
                    if header_key is None:
                        raise CorruptBatchError("record header with a null key")
                    header_value, p = get_bytes(data, p)
                    pairs.append((header_key.decode("utf-8", "surrogateescape"), header_value))
                headers = tuple(pairs)
            if p != end:
                raise CorruptBatchError(
                    f"record fields take {p - end + length} bytes, its length says {length}"
                )
            append(
                Record(
                    key,
                    value,
                    headers,
                    base_timestamp + timestamp_delta if append_time is None else append_time,
                    base_offset + offset_delta,
                )
            )
    except IndexError:
        raise CorruptBatchError("record batch records section truncated") from None
    if p != len(data):
        raise CorruptBatchError(
            f"record batch holds {len(data) - p} bytes after its {header.record_count} records"
        )
    return records
