"""The keys and values of `__consumer_offsets` records, in Kafka's own binary layouts.

Using Kafka's layouts (OffsetCommitKey/Value, GroupMetadataKey/Value from Kafka's
group-coordinator module) means Kafka tooling that decodes the offsets topic can read ours.
Every field is big-endian; strings are an int16 length and UTF-8 (-1: null), bytes an int32
length, arrays an int32 count.

    offset key      int16 version (0 or 1), group, topic, int32 partition
    group key       int16 version 2, group
    offset value    int16 version, int64 offset, [v3: int32 leader epoch], metadata,
                    int64 commit timestamp, [v1: int64 expire timestamp]
    group value     int16 version, protocol type, int32 generation, protocol (nullable),
                    leader (nullable), [v2+: int64 state timestamp], members:
                    member id, [v3: group instance id (nullable)], client id, client host,
                    [v1+: int32 rebalance timeout], int32 session timeout,
                    subscription bytes, assignment bytes

We write offset key v1, offset value v3 and group value v3 (what Kafka 2.3+ writes before the
flexible versions), and read every older version. A null value is a tombstone: the offset or
group was deleted. Later values of a key replace earlier ones.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rafka.broker.groups.model import CommittedOffset

OFFSET_KEY_VERSION = 1
GROUP_KEY_VERSION = 2
OFFSET_VALUE_VERSION = 3
GROUP_VALUE_VERSION = 3

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class RecordFormatError(ValueError):
    """A key or value this broker cannot read (an unknown version, or damaged bytes)."""


@dataclass(frozen=True, slots=True)
class OffsetKey:
    group_id: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupKey:
    group_id: str


@dataclass(frozen=True, slots=True)
class StoredMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class StoredGroup:
    protocol_type: str
    generation_id: int
    protocol_name: str | None
    leader_id: str | None
    state_timestamp_ms: int  # -1 when unknown (records older than v2)
    members: tuple[StoredMember, ...]


# ---------------------------------------------------------------- writing


def _string(out: bytearray, text: str | None) -> None:
    if text is None:
        out += _I16.pack(-1)
        return
    data = text.encode("utf-8")
    if len(data) > 0x7FFF:
        raise RecordFormatError(f"string of {len(data)} bytes is too long for an int16 length")
    out += _I16.pack(len(data))
    out += data


def _bytes(out: bytearray, data: bytes) -> None:
    out += _I32.pack(len(data))
    out += data


def encode_offset_key(group_id: str, topic: str, partition: int) -> bytes:
    out = bytearray(_I16.pack(OFFSET_KEY_VERSION))
    _string(out, group_id)
    _string(out, topic)
    out += _I32.pack(partition)
    return bytes(out)


def encode_group_key(group_id: str) -> bytes:
    out = bytearray(_I16.pack(GROUP_KEY_VERSION))
    _string(out, group_id)
    return bytes(out)


def encode_offset_value(committed: CommittedOffset) -> bytes:
    out = bytearray(_I16.pack(OFFSET_VALUE_VERSION))
    out += _I64.pack(committed.offset)
    out += _I32.pack(committed.leader_epoch)
    _string(out, committed.metadata)
    out += _I64.pack(committed.commit_timestamp_ms)
    return bytes(out)


def encode_group_value(group: StoredGroup) -> bytes:
    out = bytearray(_I16.pack(GROUP_VALUE_VERSION))
    _string(out, group.protocol_type)
    out += _I32.pack(group.generation_id)
    _string(out, group.protocol_name)
    _string(out, group.leader_id)
    out += _I64.pack(group.state_timestamp_ms)
    out += _I32.pack(len(group.members))
    for member in group.members:
        _string(out, member.member_id)
        _string(out, member.group_instance_id)
        _string(out, member.client_id)
        _string(out, member.client_host)
        out += _I32.pack(member.rebalance_timeout_ms)
        out += _I32.pack(member.session_timeout_ms)
        _bytes(out, member.subscription)
        _bytes(out, member.assignment)
    return bytes(out)


# ---------------------------------------------------------------- reading


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, size: int) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise RecordFormatError(f"record ends after {len(self.data)} bytes, mid-field")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def i16(self) -> int:
        return int(_I16.unpack(self._take(2))[0])

    def i32(self) -> int:
        return int(_I32.unpack(self._take(4))[0])

    def i64(self) -> int:
        return int(_I64.unpack(self._take(8))[0])

    def nullable_string(self) -> str | None:
        length = self.i16()
        if length < 0:
            return None
        return self._take(length).decode("utf-8", errors="replace")

    def string(self) -> str:
        text = self.nullable_string()
        if text is None:
            raise RecordFormatError("null where a string is required")
        return text

    def bytes_(self) -> bytes:
        length = self.i32()
        return b"" if length < 0 else self._take(length)


def decode_key(data: bytes) -> OffsetKey | GroupKey:
    reader = _Reader(data)
    version = reader.i16()
    if version in (0, 1):
        return OffsetKey(reader.string(), reader.string(), reader.i32())
    if version == GROUP_KEY_VERSION:
        return GroupKey(reader.string())
    raise RecordFormatError(f"unknown __consumer_offsets key version {version}")


def decode_offset_value(data: bytes) -> CommittedOffset:
    reader = _Reader(data)
    version = reader.i16()
    if not 0 <= version <= OFFSET_VALUE_VERSION:
        raise RecordFormatError(f"unknown offset commit value version {version}")
    offset = reader.i64()
    leader_epoch = reader.i32() if version >= 3 else -1
    metadata = reader.nullable_string() or ""
    commit_timestamp = reader.i64()
    expire_timestamp = reader.i64() if version == 1 else None
    return CommittedOffset(offset, leader_epoch, metadata, commit_timestamp, expire_timestamp)


def decode_group_value(data: bytes) -> StoredGroup:
    reader = _Reader(data)
    version = reader.i16()
    if not 0 <= version <= GROUP_VALUE_VERSION:
        raise RecordFormatError(f"unknown group metadata value version {version}")
    protocol_type = reader.string()
    generation = reader.i32()
    protocol = reader.nullable_string()
    leader = reader.nullable_string()
    state_timestamp = reader.i64() if version >= 2 else -1
    members = []
    for _ in range(reader.i32()):
        member_id = reader.string()
        instance_id = reader.nullable_string() if version >= 3 else None
        client_id = reader.string()
        client_host = reader.string()
        session_timeout = rebalance_timeout = 0
        if version >= 1:
            rebalance_timeout = reader.i32()
        session_timeout = reader.i32()
        if version == 0:
            rebalance_timeout = session_timeout
        subscription = reader.bytes_()
        assignment = reader.bytes_()
        members.append(
            StoredMember(
                member_id,
                instance_id,
                client_id,
                client_host,
                rebalance_timeout,
                session_timeout,
                subscription,
                assignment,
            )
        )
    return StoredGroup(protocol_type, generation, protocol, leader, state_timestamp, tuple(members))
