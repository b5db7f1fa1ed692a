"""The zero-copy Fetch response encoder against kio's writer and reader."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from rafka.protocol import (
    FETCH_VERSIONS,
    AbortedTransaction,
    ApiKey,
    EpochEndOffset,
    FetchPartition,
    FetchResponseData,
    FetchTopic,
    LeaderIdAndEpoch,
    NodeEndpoint,
    SnapshotId,
    decode_response,
    encode_fetch_response,
    encode_fetch_response_body,
    encode_response,
    encode_response_chunks,
    response_class,
)
from rafka.protocol._kio import reader
from rafka.protocol.fetch_response import to_kio
from rafka.protocol.tagged_fields import scan_tags
from tests.protocol.protocol_strategies import quick

i32s = st.integers(-(2**31), 2**31 - 1)
i64s = st.integers(-(2**63), 2**63 - 1)
chunk = st.binary(max_size=40) | st.binary(max_size=40).map(memoryview)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# The fields every partition entry and every response carries; the strategies below add the
# optional parts (or, for the one-partition shape, leave them out).
partition_head: dict[str, st.SearchStrategy[Any]] = {
    "partition_index": i32s,
    "high_watermark": i64s,
    "error_code": st.sampled_from([ErrorCode.none, ErrorCode.offset_out_of_range]),
    "last_stable_offset": i64s,
    "log_start_offset": i64s,
    "preferred_read_replica": i32s,
}
response_head: dict[str, st.SearchStrategy[Any]] = {
    "throttle_time_ms": st.integers(0, 2**31 - 1),
    "error_code": st.sampled_from([ErrorCode.none, ErrorCode.fetch_session_id_not_found]),
    "session_id": i32s,
}

partitions = st.builds(
    FetchPartition,
    **partition_head,
    aborted_transactions=optional(
        st.lists(st.builds(AbortedTransaction, producer_id=i64s, first_offset=i64s), max_size=2)
    ),
    records=optional(st.lists(chunk, max_size=4)),
    diverging_epoch=optional(st.builds(EpochEndOffset, epoch=i32s, end_offset=i64s)),
    current_leader=optional(st.builds(LeaderIdAndEpoch, leader_id=i32s, leader_epoch=i32s)),
    snapshot_id=optional(st.builds(SnapshotId, end_offset=i64s, epoch=i32s)),
)
topics = st.builds(
    FetchTopic,
    partitions=st.lists(partitions, max_size=3),
    topic=st.text(max_size=10),
    topic_id=optional(st.uuids()),
)
responses = st.builds(
    FetchResponseData,
    responses=st.lists(topics, max_size=3),
    **response_head,
    node_endpoints=st.lists(
        st.builds(
            NodeEndpoint,
            node_id=i32s,
            host=st.text(max_size=10),
            port=i32s,
            rack=optional(st.text(max_size=5)),
        ),
        max_size=2,
    ),
)


def test_versions_cover_what_clients_use() -> None:
    # librdkafka 2.16 fetches with up to v16/v17; Kafka 4 dropped v0-3.
    assert range(4, 19) == FETCH_VERSIONS


@pytest.mark.parametrize("version", FETCH_VERSIONS)
@settings(quick, max_examples=30)
@given(data=responses, correlation_id=i32s)
def test_equals_kios_writer_byte_for_byte(
    version: int, data: FetchResponseData, correlation_id: int
) -> None:
    fast = b"".join(encode_fetch_response(correlation_id, version, data))
    expected = to_kio(version, data)
    slow = b"".join(encode_response(correlation_id, ApiKey.FETCH, version, expected))
    assert fast == slow
    # And kio's native reader decodes it to the same logical response.
    assert decode_response(ApiKey.FETCH, version, fast[4:]) == expected


# What a consumer following one partition gets every time: the shape the encoder writes in
# one struct call (v13+), which must stay byte-equal to kio and to the generic path.
one_partition_responses = st.builds(
    FetchResponseData,
    responses=st.builds(
        FetchTopic,
        partitions=st.builds(
            FetchPartition,
            **partition_head,
            records=st.lists(chunk | st.binary(min_size=120, max_size=300), max_size=3),
        ).map(lambda p: [p]),
        topic=st.text(max_size=10),
        topic_id=optional(st.uuids()),
    ).map(lambda t: [t]),
    **response_head,
)


@pytest.mark.parametrize("version", range(13, 19))
@settings(quick, max_examples=40)
@given(data=one_partition_responses, correlation_id=i32s)
def test_one_partition_shape_equals_kio_and_the_generic_path(
    version: int, data: FetchResponseData, correlation_id: int
) -> None:
    fast = b"".join(encode_fetch_response(correlation_id, version, data))
    expected = to_kio(version, data)
    assert fast == b"".join(encode_response(correlation_id, ApiKey.FETCH, version, expected))
    # The generic encoder (what the body-only entry point uses) writes the same body.
    assert fast[9:] == b"".join(encode_fetch_response_body(version, data))


@pytest.mark.parametrize("version", [4, 11, 12, 16, 18])
def test_record_chunks_are_never_copied(version: int) -> None:
    log = bytearray(b"batch-bytes" * 1000)
    chunks = [memoryview(log)[0:5000], b"middle", memoryview(log)[5000:]]
    data = FetchResponseData(
        responses=[
            FetchTopic(
                topic="t",
                topic_id=uuid.uuid4(),
                partitions=[
                    FetchPartition(partition_index=0, high_watermark=10, records=chunks),
                    FetchPartition(partition_index=1, high_watermark=0),  # no records
                    FetchPartition(partition_index=2, high_watermark=10, records=chunks[:1]),
                ],
            )
        ]
    )
    out = encode_fetch_response(1, version, data)
    ids = [id(c) for c in out]
    for record_chunk in chunks:
        assert id(record_chunk) in ids
    assert ids.count(id(chunks[0])) == 2
    metadata = sum(len(c) for c in out if all(c is not r for r in chunks))
    assert metadata < 200
    decoded = decode_response(ApiKey.FETCH, version, b"".join(out)[4:])
    assert [p.records for p in decoded.responses[0].partitions] == [
        bytes(log[:5000]) + b"middle" + bytes(log[5000:]),
        b"",
        bytes(log[:5000]),
    ]


@pytest.mark.parametrize("version", FETCH_VERSIONS)
def test_defaults_send_no_tagged_fields(version: int) -> None:
    data = FetchResponseData(
        responses=[
            FetchTopic(
                topic="t",
                partitions=[
                    FetchPartition(
                        partition_index=0,
                        high_watermark=5,
                        records=[b"x"],
                        diverging_epoch=EpochEndOffset(),  # explicit defaults are omitted too
                        current_leader=LeaderIdAndEpoch(),
                        snapshot_id=SnapshotId(),
                    )
                ],
            )
        ],
        node_endpoints=[],
    )
    raw = b"".join(encode_fetch_response(1, version, data))[4:]
    cls = response_class(ApiKey.FETCH, version)
    offset = 5 if cls.__flexible__ else 4
    assert scan_tags(cls, raw, offset) == ()
    reader(cls)(raw, offset)  # decodes


def test_non_default_tags_are_sent() -> None:
    data = FetchResponseData(
        responses=[
            FetchTopic(
                topic_id=uuid.uuid4(),
                partitions=[
                    FetchPartition(
                        partition_index=0,
                        high_watermark=5,
                        error_code=ErrorCode.not_leader_or_follower,
                        current_leader=LeaderIdAndEpoch(leader_id=2, leader_epoch=7),
                    )
                ],
            )
        ],
        node_endpoints=[NodeEndpoint(node_id=2, host="h", port=9092)],
    )
    raw = b"".join(encode_fetch_response(1, 16, data))[4:]
    tags = scan_tags(response_class(ApiKey.FETCH, 16), raw, 5)
    assert [(t.name, t.path) for t in tags] == [
        ("current_leader", "FetchResponse.responses[0].partitions[0]"),
        ("node_endpoints", "FetchResponse"),
    ]


def test_body_plus_generic_framing_equals_full_frame() -> None:
    data = FetchResponseData(
        responses=[
            FetchTopic(
                topic="t",
                partitions=[FetchPartition(partition_index=0, high_watermark=1, records=[b"r"])],
            )
        ]
    )
    for version in (4, 12):
        full = b"".join(encode_fetch_response(9, version, data))
        body = encode_fetch_response_body(version, data)
        assert b"".join(encode_response_chunks(9, ApiKey.FETCH, version, body)) == full


def test_errors() -> None:
    data = FetchResponseData(responses=[FetchTopic(partitions=[])])
    with pytest.raises(ValueError, match="needs topic names"):
        encode_fetch_response(1, 12, data)
    encode_fetch_response(1, 13, data)  # v13+ identifies topics by id
    for version in (3, 19):
        with pytest.raises(ValueError, match="not supported"):
            encode_fetch_response(1, version, data)
