"""A Fetch response encoder that never copies record data.

kio's FetchResponse wants each partition's records as one `bytes`, which would mean joining the
segment chunks `PartitionLog.read()` returns (a copy of everything we send). Here a partition's
`records` is the list of chunks itself; the encoder writes the small metadata around them into
its own buffers and returns `[metadata, chunk, chunk, metadata, ...]` for `writelines()`
(uvloop turns that into one writev; plain asyncio on 3.11 joins the list, so the server should
prefer uvloop or write the chunks one by one).

Covers every FetchResponse version kio has (4-18; Kafka 4 dropped 0-3), byte-for-byte equal to
kio's writer for the same logical response (checked by the tests through `to_kio()`). As in
Kafka and kio, the per-partition tagged fields (diverging_epoch, current_leader, snapshot_id)
and the top-level node_endpoints are written only when they differ from their defaults.
"""

from __future__ import annotations

import importlib
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from kio.schema.errors import ErrorCode
from kio.static.primitive import i32Timedelta

from rafka.protocol._writers import write_length as _length
from rafka.protocol._writers import write_string as _string
from rafka.protocol._writers import write_uvarint as _uvarint
from rafka.protocol.apis import KIO_APIS, ApiKey

__all__ = [
    "FETCH_VERSIONS",
    "AbortedTransaction",
    "EpochEndOffset",
    "FetchPartition",
    "FetchResponseData",
    "FetchTopic",
    "LeaderIdAndEpoch",
    "NodeEndpoint",
    "OpaqueChunk",
    "RecordChunks",
    "ResponseChunk",
    "SnapshotId",
    "encode_fetch_response",
    "encode_fetch_response_body",
    "to_kio",
]

_fetch = KIO_APIS[ApiKey.FETCH]
#: The Fetch versions this encoder writes (what kio knows).
FETCH_VERSIONS = range(_fetch.min_version, _fetch.max_version + 1)
_FIRST_FLEXIBLE = 12
_FIRST_TOPIC_ID = 13
_FIRST_NODE_ENDPOINTS = 16


class OpaqueChunk(Protocol):
    """Record bytes the encoder passes through without looking inside: it needs their length,
    and `bytes()` gives them on demand. Lets the writer at the socket send them its own way (the
    Kafka door `sendfile`s runs of segment files, rafka.log.region)."""

    def __len__(self) -> int: ...

    def __bytes__(self) -> bytes: ...


#: One piece of an encoded response: buffers, or an opaque run of record bytes.
ResponseChunk = bytes | memoryview | OpaqueChunk
#: Record data as stored: whole batches, possibly split over several buffers.
RecordChunks = Sequence[ResponseChunk]


@dataclass(frozen=True, slots=True)
class EpochEndOffset:
    epoch: int = -1
    end_offset: int = -1


@dataclass(frozen=True, slots=True)
class LeaderIdAndEpoch:
    leader_id: int = -1
    leader_epoch: int = -1


@dataclass(frozen=True, slots=True)
class SnapshotId:
    end_offset: int = -1
    epoch: int = -1


@dataclass(frozen=True, slots=True)
class AbortedTransaction:
    producer_id: int
    first_offset: int


@dataclass(frozen=True, slots=True)
class NodeEndpoint:
    node_id: int
    host: str
    port: int
    rack: str | None = None


# Built for every response, so plain slotted classes: a frozen dataclass's __init__ goes
# through object.__setattr__ per field (measured 1.9 us vs 0.5 us for FetchPartition).
@dataclass(slots=True)
class FetchPartition:
    """One partition of a Fetch response. Defaults are Kafka's.

    `records` defaults to empty rather than null: Kafka sends empty records, and some librdkafka
    versions reject a null records field ("invalid MessageSetSize -1").
    `aborted_transactions` defaults to null, as Kafka sends for READ_UNCOMMITTED fetches.
    The tagged fields (v12+) are omitted when None or equal to their defaults.
    """

    partition_index: int
    high_watermark: int
    error_code: int = ErrorCode.none
    last_stable_offset: int = -1
    log_start_offset: int = -1  # v5+
    aborted_transactions: Sequence[AbortedTransaction] | None = None
    preferred_read_replica: int = -1  # v11+
    records: RecordChunks | None = ()
    diverging_epoch: EpochEndOffset | None = None  # v12+, tag 0
    current_leader: LeaderIdAndEpoch | None = None  # v12+, tag 1
    snapshot_id: SnapshotId | None = None  # v12+, tag 2


@dataclass(slots=True)
class FetchTopic:
    """Topic identified by `topic` (v4-12) or `topic_id` (v13+; None is the zero UUID)."""

    partitions: Sequence[FetchPartition]
    topic: str | None = None
    topic_id: uuid.UUID | None = None


@dataclass(slots=True)
class FetchResponseData:
    responses: Sequence[FetchTopic]
    throttle_time_ms: int = 0
    error_code: int = ErrorCode.none  # v7+
    session_id: int = 0  # v7+
    node_endpoints: Sequence[NodeEndpoint] = field(default=())  # v16+, tag 0


_I32 = struct.Struct(">i")
# index, error, high watermark, last stable offset[, log start offset (v5+)]
_PARTITION_HEAD = struct.Struct(">ihqq")
_PARTITION_HEAD_V5 = struct.Struct(">ihqqq")
_TOP_V7 = struct.Struct(">ihi")  # throttle time, error code, session id
_NULL_I32 = _I32.pack(-1)
_I64 = struct.Struct(">q")
_ABORTED = struct.Struct(">qq")
_ZERO_UUID = bytes(16)
_DEFAULT_EPOCH_END = EpochEndOffset()
_DEFAULT_LEADER = LeaderIdAndEpoch()
_DEFAULT_SNAPSHOT = SnapshotId()


def _chunk_size(chunk: ResponseChunk) -> int:
    return chunk.nbytes if isinstance(chunk, memoryview) else len(chunk)


def _partition_tags(out: bytearray, p: FetchPartition) -> None:
    if p.diverging_epoch is None and p.current_leader is None and p.snapshot_id is None:
        out.append(0)  # the usual case: no tagged fields
        return
    tags: list[tuple[int, bytes]] = []
    if p.diverging_epoch is not None and p.diverging_epoch != _DEFAULT_EPOCH_END:
        diverging = p.diverging_epoch
        tags.append((0, struct.pack(">iqB", diverging.epoch, diverging.end_offset, 0)))
    if p.current_leader is not None and p.current_leader != _DEFAULT_LEADER:
        leader = p.current_leader
        tags.append((1, struct.pack(">iiB", leader.leader_id, leader.leader_epoch, 0)))
    if p.snapshot_id is not None and p.snapshot_id != _DEFAULT_SNAPSHOT:
        tags.append((2, struct.pack(">qiB", p.snapshot_id.end_offset, p.snapshot_id.epoch, 0)))
    _uvarint(out, len(tags))
    for tag, value in tags:
        _uvarint(out, tag)
        _uvarint(out, len(value))
        out += value


def _node_endpoints(out: bytearray, endpoints: Sequence[NodeEndpoint]) -> None:
    if not endpoints:
        out.append(0)
        return
    value = bytearray()
    _uvarint(value, len(endpoints) + 1)
    for node in endpoints:
        value += _I32.pack(node.node_id)
        _string(value, node.host, True)
        value += _I32.pack(node.port)
        _string(value, node.rack, True)
        value.append(0)
    out.append(1)  # one tagged field
    _uvarint(out, 0)  # tag 0
    _uvarint(out, len(value))
    out += value


def encode_fetch_response(
    correlation_id: int, api_version: int, data: FetchResponseData
) -> list[ResponseChunk]:
    """Encode a whole Fetch response frame (size prefix and header included) as chunks.

    The record chunks appear in the result as the very objects passed in (empty ones are
    dropped); everything else is small metadata. Raises ValueError for versions outside
    `FETCH_VERSIONS` or a topic without the identifier the version needs.
    """
    if api_version >= _FIRST_TOPIC_ID:
        chunks = _encode_one_partition(correlation_id, api_version, data)
        if chunks is not None:
            return chunks
    head = bytearray(8)  # size prefix (patched below) + correlation id
    _I32.pack_into(head, 4, correlation_id)
    if api_version >= _FIRST_FLEXIBLE:
        head.append(0)  # response header v1: no tagged fields
    chunks, size = _encode(api_version, data, head)
    _I32.pack_into(head, 0, size - 4)
    return chunks


# A one-partition response (v13+) up to its records length: size, correlation id, header
# tags; throttle, error, session; one topic (compact count 2) and its id; one partition
# (count 2): index, error, high watermark, last stable, log start, null aborted
# transactions (0), preferred read replica.
_ONE_PARTITION_HEAD = struct.Struct(">iiBihiB16sBihqqqBi")
# After the records: the partition's, the topic's and the response's empty tag buffers (v16+:
# no node endpoints, which is the same single 0).
_ONE_PARTITION_TAIL = b"\x00\x00\x00"


def _encode_one_partition(
    correlation_id: int, api_version: int, data: FetchResponseData
) -> list[ResponseChunk] | None:
    """The whole frame for the response a consumer following one partition gets, or None if
    `data` is not that shape (then `_encode` writes it).

    Hand-fused for speed: a tail follower gets one such response per message or two, and
    this is one struct call where `_encode` makes a dozen (measured 2.8 -> 1.65 us for v16).
    The generic encoder writes the same bytes (the tests compare both with kio).
    """
    responses = data.responses
    if len(responses) != 1 or data.node_endpoints:
        return None
    topic = responses[0]
    if len(topic.partitions) != 1:
        return None
    p = topic.partitions[0]
    records = p.records
    if (
        records is None
        or p.aborted_transactions is not None
        or p.diverging_epoch is not None
        or p.current_leader is not None
        or p.snapshot_id is not None
    ):
        return None
    present, size = _present_records(records)
    head = bytearray(
        _ONE_PARTITION_HEAD.pack(
            0,  # the size, patched below
            correlation_id,
            0,
            data.throttle_time_ms,
            data.error_code,
            data.session_id,
            2,
            _uuid_bytes(topic.topic_id),
            2,
            p.partition_index,
            p.error_code,
            p.high_watermark,
            p.last_stable_offset,
            p.log_start_offset,
            0,
            p.preferred_read_replica,
        )
    )
    if size < 0x7F:
        head.append(size + 1)
    else:
        _uvarint(head, size + 1)
    _I32.pack_into(head, 0, len(head) - 4 + size + len(_ONE_PARTITION_TAIL))
    if not size:
        head += _ONE_PARTITION_TAIL
        return [memoryview(head)]
    return [memoryview(head), *present, _ONE_PARTITION_TAIL]


def _present_records(records: Sequence[ResponseChunk]) -> tuple[Sequence[ResponseChunk], int]:
    """A partition's non-empty record chunks and their total size (one chunk, the usual
    case, as it is)."""
    if len(records) == 1:
        return records, _chunk_size(records[0])
    present = [chunk for chunk in records if _chunk_size(chunk)]
    return present, sum(map(_chunk_size, present))


def _uuid_bytes(topic_id: uuid.UUID | None) -> bytes:
    # UUID.bytes is a Python property around this same call; no id is the zero UUID.
    return topic_id.int.to_bytes(16, "big") if topic_id is not None else _ZERO_UUID


def encode_fetch_response_body(api_version: int, data: FetchResponseData) -> list[ResponseChunk]:
    """Only the FetchResponse body, as chunks (for `encode_response_chunks()`)."""
    chunks, _size = _encode(api_version, data, bytearray())
    return chunks


def _encode(
    api_version: int, data: FetchResponseData, out: bytearray
) -> tuple[list[ResponseChunk], int]:
    """Append the body to `out` (which becomes the first chunk); returns chunks, total size.

    A consumer following the tail gets one response per message or two, so this is written
    for few calls per partition: the fixed fields around a partition go out in one `struct`
    call each side of the records, and compact lengths below 127 (one varint byte) are
    appended inline. Measured on a one-partition v16 response: 4.2 -> 2.8 us.
    """
    if api_version not in FETCH_VERSIONS:
        raise ValueError(f"Fetch version {api_version} is not supported by this encoder")
    flexible = api_version >= _FIRST_FLEXIBLE
    use_topic_id = api_version >= _FIRST_TOPIC_ID
    with_log_start = api_version >= 5
    with_read_replica = api_version >= 11

    chunks: list[ResponseChunk] = []
    total = 0
    if api_version >= 7:
        out += _TOP_V7.pack(data.throttle_time_ms, data.error_code, data.session_id)
    else:
        out += _I32.pack(data.throttle_time_ms)
    responses = data.responses
    _length(out, len(responses), flexible)
    for topic in responses:
        if use_topic_id:
            out += _uuid_bytes(topic.topic_id)
        else:
            if topic.topic is None:
                raise ValueError(f"Fetch v{api_version} needs topic names")
            _string(out, topic.topic, flexible)
        partitions = topic.partitions
        _length(out, len(partitions), flexible)
        for p in partitions:
            if with_log_start:
                out += _PARTITION_HEAD_V5.pack(
                    p.partition_index,
                    p.error_code,
                    p.high_watermark,
                    p.last_stable_offset,
                    p.log_start_offset,
                )
            else:
                out += _PARTITION_HEAD.pack(
                    p.partition_index, p.error_code, p.high_watermark, p.last_stable_offset
                )
            aborted = p.aborted_transactions
            if aborted is None:
                if flexible:
                    out.append(0)
                else:
                    out += _NULL_I32
            else:
                _length(out, len(aborted), flexible)
                for txn in aborted:
                    out += _ABORTED.pack(txn.producer_id, txn.first_offset)
                    if flexible:
                        out.append(0)
            if with_read_replica:
                out += _I32.pack(p.preferred_read_replica)
            records = p.records
            if records is None:
                _length(out, None, flexible)
            else:
                present, size = _present_records(records)
                _length(out, size, flexible)
                if size:
                    # Close the metadata chunk (never resized again) and pass records through.
                    chunks.append(memoryview(out))
                    total += len(out)
                    chunks += present
                    total += size
                    out = bytearray()
            if flexible:
                if p.diverging_epoch is None and p.current_leader is None and p.snapshot_id is None:
                    out.append(0)  # the usual case: no tagged fields
                else:
                    _partition_tags(out, p)
        if flexible:
            out.append(0)  # topic: no tagged fields
    if flexible:
        if api_version >= _FIRST_NODE_ENDPOINTS and data.node_endpoints:
            _node_endpoints(out, data.node_endpoints)
        else:
            out.append(0)
    if out or not chunks:
        chunks.append(memoryview(out))
        total += len(out)
    return chunks, total


def to_kio(api_version: int, data: FetchResponseData) -> Any:
    """The same response as kio's FetchResponse (records joined): for tests and tools."""
    module = importlib.import_module(f"kio.schema.fetch.v{api_version}.response")

    def partition(p: FetchPartition) -> Any:
        kwargs: dict[str, Any] = {
            "partition_index": p.partition_index,
            "error_code": ErrorCode(p.error_code),
            "high_watermark": p.high_watermark,
            "last_stable_offset": p.last_stable_offset,
            "aborted_transactions": None
            if p.aborted_transactions is None
            else tuple(
                module.AbortedTransaction(producer_id=t.producer_id, first_offset=t.first_offset)
                for t in p.aborted_transactions
            ),
            "records": None if p.records is None else b"".join(map(bytes, p.records)),
        }
        if api_version >= 5:
            kwargs["log_start_offset"] = p.log_start_offset
        if api_version >= 11:
            kwargs["preferred_read_replica"] = p.preferred_read_replica
        if api_version >= _FIRST_FLEXIBLE:
            if p.diverging_epoch is not None:
                kwargs["diverging_epoch"] = module.EpochEndOffset(
                    epoch=p.diverging_epoch.epoch, end_offset=p.diverging_epoch.end_offset
                )
            if p.current_leader is not None:
                kwargs["current_leader"] = module.LeaderIdAndEpoch(
                    leader_id=p.current_leader.leader_id,
                    leader_epoch=p.current_leader.leader_epoch,
                )
            if p.snapshot_id is not None:
                kwargs["snapshot_id"] = module.SnapshotId(
                    end_offset=p.snapshot_id.end_offset, epoch=p.snapshot_id.epoch
                )
        return module.PartitionData(**kwargs)

    def topic(t: FetchTopic) -> Any:
        ident: dict[str, Any] = (
            {"topic_id": t.topic_id} if api_version >= _FIRST_TOPIC_ID else {"topic": t.topic}
        )
        return module.FetchableTopicResponse(
            **ident, partitions=tuple(partition(p) for p in t.partitions)
        )

    kwargs: dict[str, Any] = {
        "throttle_time": i32Timedelta.parse(timedelta(milliseconds=data.throttle_time_ms)),
        "responses": tuple(topic(t) for t in data.responses),
    }
    if api_version >= 7:
        kwargs["error_code"] = ErrorCode(data.error_code)
        kwargs["session_id"] = data.session_id
    if api_version >= _FIRST_NODE_ENDPOINTS:
        kwargs["node_endpoints"] = tuple(
            module.NodeEndpoint(node_id=n.node_id, host=n.host, port=n.port, rack=n.rack)
            for n in data.node_endpoints
        )
    return module.FetchResponse(**kwargs)
