"""Protobuf bytes for the gRPC door's two hot paths, read and written by hand.

PublishBatch and Consume handle every message in Python once, and through the generated
classes that cost more than everything else the broker does. Measured per 100 B message
(1,000 to a call, min of 25 runs, 2-core dev machine): publishing, `incoming()` (ListFields)
into a `Record` 2.9 us, `build_batch` 1.1 us, `PublishBatchResponse.results.add()` 1.0 us;
consuming, `decode_batch` 2.3 us, a `pb.Message` per record 1.7 us and
`ConsumeResponse(messages=...)` 0.7 us. Reading and writing protobuf bytes by hand, with upb
converting between bytes and messages in one C call per request or response
(`SerializeToString`, `FromString`: ~0.1 us a message each), costs 1.7 us a message to publish
(parse 0.7, records 0.3, results 0.6) and 1.8 us to consume. `rafka bench --via grpc` went
from 104-124k to 223-268k msg/s for PublishBatch and from 127-154k to 269-339k msg/s for one
Consume stream (broker CPU-bound throughout; 4 runs each).
Only these messages are written by hand:

- `PublishBatchRequest` (read from its own serialization: upb has already checked it, so it is
  well-formed and its strings are UTF-8; anything unusual, such as unknown fields, makes
  `parse_publish_batch` return None and the caller takes the generated-class path);
- `PublishBatchResponse.results` (`publish_results`);
- `ConsumeResponse.messages`, straight from stored records sections (`MessageWriter`).

Each is cross-checked against the generated classes by Hypothesis tests
(`tests/grpc/test_wire.py`). Field numbers are the ones in `proto/rafka/v1/rafka.proto`; the
tests fail if they move.

This module is also compiled with mypyc, and the compiled twin replaces the three entry points
when it was built from this exact file (`rafka/compiled.py`, end of this module): one Consume
stream 0.88-1.01M msg/s against 0.29-0.41M interpreted, PublishBatch 340-380k against 234-300k
(`rafka bench --via grpc`, 3 interleaved pairs). The tests run on both.
"""

from __future__ import annotations

from collections.abc import Sequence

from rafka.compiled import load_twin
from rafka.records import BatchHeader, CorruptBatchError
from rafka.records.builder import put_uvarint, read_bytes, read_varint

_U64 = (1 << 64) - 1
_TIMESTAMP_TYPE_BIT = 0x08

# Varints below this are looked up rather than computed: lengths of ordinary messages fit, and
# a list index costs ~25 ns against ~490 ns for the loop in `uvarint` (measured). The tables
# and their module take ~3.3 MB of broker memory (measured).
TABLE_SIZE = 1 << 13


def uvarint(value: int) -> bytes:
    """A protobuf base-128 varint; a negative value as its 64-bit two's complement (10 bytes),
    which is how protobuf writes negative int32 and int64 fields."""
    out = bytearray()
    put_uvarint(out, value & _U64)
    return bytes(out)


# Offsets (field 3 of both PublishResponse and Message) are written as the tag and their low 14
# bits with continuation bits set (_OFFSET_LOWS), then UVARINT[offset >> 14]: two lookups for
# every offset below 2**28. Smaller offsets are the tag and UVARINT[offset] (none for 0,
# protobuf's default).
_LOW_BITS = 14
UVARINT: list[bytes] = [uvarint(v) for v in range(1 << _LOW_BITS)]
_OFFSET_LOWS = [
    bytes((0x18, (v & 0x7F) | 0x80, (v >> 7) | 0x80)) for v in range(1 << _LOW_BITS)
]
_OFFSET_SPLIT = 1 << (2 * _LOW_BITS)
# Field 1 (PublishBatchResponse.results, ConsumeResponse.messages) tag and length, by length.
_FIELD1_HEADS = [b"\x0a" + v for v in UVARINT[:TABLE_SIZE]]
# Message.payload (5) tag and length, by length; Message.key (4) for keys below 64 bytes (those
# a one-byte Kafka varint can give).
_VALUE_HEADS = [b"\x2a" + v for v in UVARINT[:TABLE_SIZE]]
_KEY_HEADS = [b"\x22" + v for v in UVARINT[:64]]


def read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the protobuf varint at `pos`, as an unsigned 64-bit value."""
    result = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _U64, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def _signed(value: int) -> int:
    """An unsigned 64-bit varint value as the int64 (or sign-extended int32) it encodes."""
    return value - (1 << 64) if value >> 63 else value


# --------------------------------------------------------------------------- PublishBatch

#: A run of consecutive PublishRequests alike in everything but their payloads: (topic as
#: UTF-8, partition or None, key, headers, timestamp_ms, payloads). Headers are (key as UTF-8,
#: value or None); timestamp_ms 0 means "the broker's clock".
Header = tuple[bytes, bytes | None]
Run = tuple[bytes, int | None, bytes | None, list[Header], int, list[bytes | None]]

_NO_HEADERS: list[Header] = []


def parse_publish_batch(data: bytes) -> list[Run] | None:
    """The messages of a serialized PublishBatchRequest, in order, as runs; or None if it holds
    anything this reader does not handle (unknown fields), and the caller then reads the
    generated classes.

    A producer's batch is mostly messages that differ only in their payloads, and their bytes
    around the payload field are then identical: a message whose bytes before and after its
    payload are those of the message before joins that message's run, which costs a
    `startswith` and a comparison instead of reading its fields again (measured with 1,000 x
    100 B messages: 0.7 us a message in one run, against 1.7 us when every message has its own
    key and so its own run).
    """
    runs: list[Run] = []
    end_all = len(data)
    p = 0
    before = after = b""  # the last fully read message's bytes around its payload field
    values: list[bytes | None] = []
    try:
        while p < end_all:
            if data[p] != 0x0A:  # field 1 (messages), length-delimited
                return None
            b = data[p + 1]
            if b < 0x80:
                p += 2
                end = p + b
            elif data[p + 2] < 0x80:
                end = p + 3 + ((b & 0x7F) | (data[p + 2] << 7))
                p += 3
            else:
                length, p = read_uvarint(data, p + 1)
                end = p + length
            if before and data.startswith(before, p):
                q = p + len(before)
                if q < end and data[q] == 0x22:
                    b = data[q + 1]
                    if b < 0x80:
                        value_start = q + 2
                        value_end = value_start + b
                    elif data[q + 2] < 0x80:
                        value_start = q + 3
                        value_end = value_start + ((b & 0x7F) | (data[q + 2] << 7))
                    else:
                        size, value_start = read_uvarint(data, q + 1)
                        value_end = value_start + size
                    if end - value_end == len(after) and data.startswith(after, value_end):
                        values.append(data[value_start:value_end])
                        p = end
                        continue
            start = p
            topic = b""
            partition: int | None = None
            key: bytes | None = None
            value: bytes | None = None
            headers = _NO_HEADERS
            timestamp = 0
            payloads = 0
            payload_tag = payload_end = 0
            while p < end:
                tag = data[p]
                if tag == 0x12 or tag == 0x22 or tag == 0x1A or tag == 0x0A or tag == 0x2A:
                    field_start = p
                    b = data[p + 1]
                    if b < 0x80:
                        p += 2
                        size = b
                    elif data[p + 2] < 0x80:
                        size = (b & 0x7F) | (data[p + 2] << 7)
                        p += 3
                    else:
                        size, p = read_uvarint(data, p + 1)
                    if tag == 0x22:  # payload (4)
                        value = data[p : p + size]
                        payloads += 1
                        payload_tag = field_start
                        payload_end = p + size
                    elif tag == 0x12:  # topic (2)
                        topic = data[p : p + size]
                    elif tag == 0x1A:  # key (3)
                        key = data[p : p + size]
                    elif tag == 0x2A:  # headers (5)
                        if headers is _NO_HEADERS:
                            headers = []
                        headers.append(_parse_header(data, p, p + size))
                    # 0x0A: producer_id (1), informational
                    p += size
                elif tag == 0x30:  # partition (6), int32
                    raw, p = read_uvarint(data, p + 1)
                    partition = _signed(raw)
                elif tag == 0x38:  # timestamp_ms (7), int64
                    raw, p = read_uvarint(data, p + 1)
                    timestamp = _signed(raw)
                else:
                    return None
            if p != end:
                return None
            values = [value]
            runs.append((topic, partition, key, headers, timestamp, values))
            # Only a message with exactly one payload field can be the model of a run: with
            # none there is nothing to vary, with several the last would win.
            if payloads == 1:
                before = data[start:payload_tag]
                after = data[payload_end:end]
            else:
                before = b""
    except (IndexError, ValueError):
        return None
    return runs


def _parse_header(data: bytes, p: int, end: int) -> tuple[bytes, bytes | None]:
    key = b""
    value: bytes | None = None
    while p < end:
        tag = data[p]
        if tag != 0x0A and tag != 0x12:
            raise ValueError(f"unexpected field tag {tag} in a Header")
        size, start = read_uvarint(data, p + 1)
        p = start + size
        if tag == 0x0A:
            key = data[start:p]
        else:
            value = data[start:p]
    if p != end:
        raise ValueError("Header overruns its length")
    return key, value


def publish_results(
    topic: str, partition: int, base_offset: int, runs: Sequence[tuple[int, int]]
) -> list[bytes]:
    """Serialized `PublishBatchResponse.results` entries (tag and length included) for the
    messages stored at consecutive offsets from `base_offset`, given as runs of (how many,
    their timestamp)."""
    prefix = f"{topic}/{partition}/".encode()
    # PublishResponse.message_id (1) up to the offset's digits, by the number of digits.
    id_heads = [b"\x0a" + uvarint(len(prefix) + n) + prefix for n in range(21)]
    # PublishResponse.partition (2), omitted when 0 as protobuf does.
    partition_field = b"\x10" + uvarint(partition) if partition else b""
    result_heads = _FIELD1_HEADS
    offset_lows = _OFFSET_LOWS
    uvarints = UVARINT
    out: list[bytes] = []
    append = out.append
    join = b"".join
    first = base_offset
    for count, timestamp in runs:
        # PublishResponse.timestamp_ms (4), omitted when 0.
        stamp = b"\x20" + uvarint(timestamp) if timestamp else b""
        for offset in range(first, first + count):
            if offset >> _LOW_BITS == 0:
                offset_piece = b"\x18" + uvarints[offset] if offset else b""
            elif offset < _OFFSET_SPLIT:
                offset_piece = offset_lows[offset & 0x3FFF] + uvarints[offset >> 14]
            else:
                offset_piece = b"\x18" + uvarint(offset)
            digits = b"%d" % offset
            result = join((id_heads[len(digits)], digits, partition_field, offset_piece, stamp))
            append(result_heads[len(result)] + result)
        first += count
    return out


# --------------------------------------------------------------------------- Consume



class MessageWriter:
    """Writes `ConsumeResponse.messages` entries for one topic partition straight from stored
    records sections: no `Record` and no `pb.Message` per record."""

    def __init__(self, topic: str, partition: int) -> None:
        name = topic.encode()
        # Message.topic (1) and Message.partition (2, omitted when 0 as protobuf does).
        self._head = b"\x0a" + uvarint(len(name)) + name
        if partition:
            self._head += b"\x10" + uvarint(partition)
        prefix = f"{topic}/{partition}/".encode()
        # Message.message_id (8) up to the offset's digits, by the number of digits.
        self._id_heads = [b"\x42" + uvarint(len(prefix) + n) + prefix for n in range(21)]

    def write(
        self, section: bytes, header: BatchHeader, position: int, out: list[bytes]
    ) -> int:
        """Append two pieces per record of the batch (`header`, its uncompressed records
        `section`) at offset `position` or later: a message's tag and length, then its fields.
        Returns how many messages. Raises CorruptBatchError for records that do not parse, as
        `decode_batch` does."""
        data = section
        end_all = len(data)
        base_offset = header.base_offset
        base_timestamp = header.base_timestamp
        append_time = header.max_timestamp if header.attributes & _TIMESTAMP_TYPE_BIT else None
        head = self._head
        id_heads = self._id_heads
        message_heads = _FIELD1_HEADS
        key_heads = _KEY_HEADS
        value_heads = _VALUE_HEADS
        offset_lows = _OFFSET_LOWS
        uvarints = UVARINT
        last_delta: int | None = None  # the timestamp delta `stamp` was written for
        stamp = b""
        append = out.append
        written = 0
        p = 0
        # The record layout is in rafka.records.builder; as there, varints of one or two bytes
        # are decoded inline (a call costs more than the decoding) and overruns are caught once
        # per record by comparing where its fields end with its length.
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
                    length, p = read_varint(data, p)
                end = p + length
                if length < 1 or end > end_all:
                    raise CorruptBatchError(f"record length {length} overruns the batch")
                p += 1  # record attributes
                b = data[p]
                if b < 0x80:
                    timestamp_delta = (b >> 1) ^ -(b & 1)
                    p += 1
                else:
                    timestamp_delta, p = read_varint(data, p)
                b = data[p]
                if b < 0x80:
                    offset_delta = (b >> 1) ^ -(b & 1)
                    p += 1
                elif data[p + 1] < 0x80:
                    raw = (b & 0x7F) | (data[p + 1] << 7)
                    offset_delta = (raw >> 1) ^ -(raw & 1)
                    p += 2
                else:
                    offset_delta, p = read_varint(data, p)
                b = data[p]
                if b == 1:  # zigzag(-1): a null key, absent from the message
                    key = b""
                    p += 1
                elif b < 0x80 and not b & 1:
                    p += 1
                    key = key_heads[b >> 1] + data[p : p + (b >> 1)]
                    p += b >> 1
                else:
                    raw_key, p = read_bytes(data, p)
                    key = b"" if raw_key is None else b"\x22" + uvarint(len(raw_key)) + raw_key
                b = data[p]
                if b == 1:  # a null value: no payload field
                    value_head = value = b""
                    p += 1
                else:
                    if b < 0x80 and not b & 1:
                        size = b >> 1
                        p += 1
                    elif data[p + 1] < 0x80 and not b & 1:
                        size = ((b & 0x7F) | (data[p + 1] << 7)) >> 1
                        p += 2
                    else:
                        size, p = read_varint(data, p)
                        if size < 0:
                            raise CorruptBatchError(f"negative field length {size}")
                    value = data[p : p + size]
                    p += size
                    value_head = (
                        value_heads[size] if size < TABLE_SIZE else b"\x2a" + uvarint(size)
                    )
                if data[p] == 0:
                    headers = b""
                    p += 1
                else:
                    headers, p = _headers(data, p)
                if p != end:
                    raise CorruptBatchError(
                        f"record fields take {p - end + length} bytes, its length says {length}"
                    )
                offset = base_offset + offset_delta
                if offset < position:
                    continue
                if timestamp_delta != last_delta:
                    last_delta = timestamp_delta
                    timestamp = (
                        base_timestamp + timestamp_delta if append_time is None else append_time
                    )
                    # Message.timestamp_ms (7), omitted when 0.
                    stamp = b"\x38" + uvarint(timestamp) if timestamp else b""
                # Message.offset (3), from the tables.
                if offset >> _LOW_BITS == 0:
                    offset_piece = b"\x18" + uvarints[offset] if offset else b""
                elif offset < _OFFSET_SPLIT:
                    offset_piece = offset_lows[offset & 0x3FFF] + uvarints[offset >> 14]
                else:
                    offset_piece = b"\x18" + uvarint(offset)
                digits = b"%d" % offset
                message = b"".join(
                    (
                        head,
                        offset_piece,
                        key,
                        value_head,
                        value,
                        headers,
                        stamp,
                        id_heads[len(digits)],
                        digits,
                    )
                )
                size = len(message)
                append(message_heads[size] if size < TABLE_SIZE else b"\x0a" + uvarint(size))
                append(message)
                written += 1
        except IndexError:
            raise CorruptBatchError("record batch records section truncated") from None
        if p != end_all:
            raise CorruptBatchError(
                f"record batch holds {end_all - p} bytes after its {header.record_count} records"
            )
        return written


def _headers(data: bytes, p: int) -> tuple[bytes, int]:
    """Message.headers (6) fields for the Kafka record headers at `p`, and where they end."""
    count, p = read_varint(data, p)
    if count < 0:
        raise CorruptBatchError(f"record header count {count}")
    out: list[bytes] = []
    for _ in range(count):
        key, p = read_bytes(data, p)
        if key is None:
            raise CorruptBatchError("record header with a null key")
        value, p = read_bytes(data, p)
        try:
            key.decode("utf-8")
        except UnicodeDecodeError:
            # A protobuf string must be UTF-8 (upb refuses the whole response otherwise) and
            # Kafka clients other than Java's may write any bytes: replace what is not, rather
            # than end the stream on this record every time the consumer comes back.
            key = key.decode("utf-8", "replace").encode("utf-8")
        field = b"\x0a" + uvarint(len(key)) + key if key else b""  # "" is protobuf's default
        if value is not None:
            field += b"\x12" + uvarint(len(value)) + value
        out.append(b"\x32" + uvarint(len(field)) + field)
    return b"".join(out), p


# The same code compiled by mypyc, if it was built from this very file (rafka/compiled.py):
# every message of PublishBatch and Consume goes through these three.
def _use_twin() -> None:
    twin = load_twin(__name__, __file__)
    if twin is not None:
        globals().update(
            parse_publish_batch=twin.parse_publish_batch,
            publish_results=twin.publish_results,
            MessageWriter=twin.MessageWriter,
        )


_use_twin()
