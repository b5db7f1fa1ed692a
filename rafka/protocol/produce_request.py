"""Large Produce requests read with their records as views of the frame, not copies.

kio's reader hands each partition's records over as a new `bytes`. On a 1 MiB produce request
that is one more pass over every byte the broker receives, between the socket read into the
frame and the write into the log: `perf` put it at ~4% of the broker's CPU on 1 MiB requests.
From `LENT_RECORDS_MIN_BYTES` up, `read_produce_lent` builds the same kio entities by hand with
each `records` a read-only `memoryview` of the frame. Anything it would have to interpret
rather than skip (a tagged field, a field that does not fit) makes it return None, and kio
reads the frame as usual. Smaller requests stay with kio, whose native reader beats Python
on them (1.1-1.4 us against 2.5-2.9 us for one partition, measured when a hand-written
decoder for every Produce was tried and dropped).

The views stay valid as long as the frame does (`FrameDecoder` never overwrites a buffer
while a view of it is alive). The produce path does not keep them past its handler: the log
either copies a request's bytes or writes them before the handler returns.
"""

from __future__ import annotations

import datetime
import struct
import sys
import uuid
from typing import Any

from rafka.records.builder import read_uvarint

__all__ = ["LENT_RECORDS_MIN_BYTES", "read_produce_lent"]

#: Frames from this size up have their records lent rather than copied (the size from which
#: the log writes a batch without copying it, `rafka.log.append.UNCOPIED_MIN_BYTES`).
LENT_RECORDS_MIN_BYTES = 64 * 1024

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I16_I32 = struct.Struct(">hi")
_FIRST_FLEXIBLE = 9  # Produce v9 moved to compact fields and tagged fields
_FIRST_TOPIC_ID = 13  # Produce v13 names topics by id


class _Unexpected(Exception):
    """Something to leave to kio (which also reports real errors the way the codec expects)."""


def read_produce_lent(
    body_type: type[Any], data: memoryview, offset: int
) -> tuple[Any, int] | None:
    """Read a Produce request body of kio type `body_type` at `offset` of `data` (read-only,
    format "B"). Returns (the kio entity with `records` lent from `data`, the end offset), or
    None when kio should read it instead."""
    version: int = body_type.__version__
    module = sys.modules[body_type.__module__]
    topic_type, partition_type = module.TopicProduceData, module.PartitionProduceData
    try:
        reader = _Reader(data, offset, version >= _FIRST_FLEXIBLE)
        transactional_id = reader.string()
        acks, timeout_ms = reader.acks_and_timeout()
        topics = []
        for _ in range(reader.count()):
            topic_key: dict[str, str | uuid.UUID]
            if version >= _FIRST_TOPIC_ID:
                topic_key = {"topic_id": reader.uuid()}
            else:
                name = reader.string()
                if name is None:
                    raise _Unexpected("null topic name")
                topic_key = {"name": name}
            partitions = []
            for _ in range(reader.count()):
                index = reader.int32()
                records = reader.records()
                reader.no_tags()
                partitions.append(partition_type(index=index, records=records))
            reader.no_tags()
            topics.append(topic_type(**topic_key, partition_data=tuple(partitions)))
        reader.no_tags()
    except (_Unexpected, struct.error, IndexError, ValueError):
        return None
    request = body_type(
        transactional_id=transactional_id,
        acks=acks,
        timeout=datetime.timedelta(milliseconds=timeout_ms),
        topic_data=tuple(topics),
    )
    return request, reader.pos


class _Reader:
    """A cursor over the frame for the few field types a Produce request has, in both the
    classic and the flexible (compact, tagged) encodings."""

    __slots__ = ("data", "flexible", "pos")

    def __init__(self, data: memoryview, pos: int, flexible: bool) -> None:
        self.data = data
        self.pos = pos
        self.flexible = flexible

    def _uvarint(self) -> int:
        # Lengths and counts are int32: at most 5 varint bytes.
        value, self.pos = read_uvarint(self.data, self.pos, 5)
        return value

    def _length(self) -> int:
        """A string's or bytes' length; -1 for null."""
        if self.flexible:
            return self._uvarint() - 1
        (length,) = _I16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(length)

    def _take(self, size: int) -> memoryview:
        start = self.pos
        end = start + size
        if size < 0 or end > len(self.data):
            raise _Unexpected("field runs past the frame")
        self.pos = end
        return self.data[start:end]

    def string(self) -> str | None:
        length = self._length()
        if length < 0:
            return None
        try:
            return bytes(self._take(length)).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Unexpected("string is not UTF-8") from exc

    def acks_and_timeout(self) -> tuple[int, int]:
        acks, timeout = _I16_I32.unpack_from(self.data, self.pos)
        self.pos += 6
        return int(acks), int(timeout)

    def int32(self) -> int:
        (value,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(value)

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=bytes(self._take(16)))

    def count(self) -> int:
        count = self._uvarint() - 1 if self.flexible else self.int32()
        if count < 0:
            raise _Unexpected("null array")
        return count

    def records(self) -> memoryview | None:
        size = self._uvarint() - 1 if self.flexible else self.int32()
        if size < 0:
            return None
        return self._take(size)

    def no_tags(self) -> None:
        if self.flexible and self._uvarint() != 0:
            raise _Unexpected("tagged fields")  # kio knows which it may skip
