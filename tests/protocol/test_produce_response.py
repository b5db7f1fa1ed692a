"""The hand-written ProduceResponse encoder against kio's writer and reader."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from rafka.protocol import ApiKey, decode_response, encode_response
from rafka.protocol.produce_response import (
    PRODUCE_VERSIONS,
    ProducePartitionResult,
    ProduceTopicResult,
    encode_produce_response,
    to_kio,
)
from tests.protocol.protocol_strategies import quick

i32s = st.integers(-(2**31), 2**31 - 1)
i64s = st.integers(-(2**63), 2**63 - 1)
# kio writes log_append_time as a datetime (or -1 for None), so keep it in datetime's range.
append_times = st.just(-1) | st.integers(0, 253_402_300_799_000)

partitions = st.builds(
    ProducePartitionResult,
    index=i32s,
    error_code=st.sampled_from(list(ErrorCode)).map(int),
    base_offset=i64s,
    log_append_time_ms=append_times,
    log_start_offset=i64s,
    error_message=st.none() | st.text(max_size=30),
)
topics = st.builds(
    ProduceTopicResult,
    name=st.text(min_size=1, max_size=30),
    topic_id=st.uuids(),
    partitions=st.lists(partitions, max_size=3),
)


def kio_bytes(correlation_id: int, version: int, data: list[ProduceTopicResult]) -> bytes:
    chunks = encode_response(correlation_id, ApiKey.PRODUCE, version, to_kio(version, data))
    return b"".join(bytes(c) for c in chunks)


@pytest.mark.parametrize("version", PRODUCE_VERSIONS)
@quick
@given(correlation_id=i32s, data=st.lists(topics, max_size=3))
def test_bytes_equal_kio_writer(
    version: int, correlation_id: int, data: list[ProduceTopicResult]
) -> None:
    ours = b"".join(encode_produce_response(correlation_id, version, data))
    assert ours == kio_bytes(correlation_id, version, data)


# A successful append to one partition, what every latency message gets: written by the
# fused one-partition path (v9+), which must stay byte-equal to kio's writer.
one_partition = st.builds(
    ProduceTopicResult,
    name=st.text(max_size=130),  # past 126 UTF-8 bytes the name needs a 2-byte length
    topic_id=st.none() | st.uuids(),
    partitions=partitions.map(lambda p: [p]),
)


@pytest.mark.parametrize("version", PRODUCE_VERSIONS)
@quick
@given(correlation_id=i32s, topic=one_partition)
def test_one_partition_equals_kio_writer(
    version: int, correlation_id: int, topic: ProduceTopicResult
) -> None:
    ours = b"".join(encode_produce_response(correlation_id, version, [topic]))
    assert ours == kio_bytes(correlation_id, version, [topic])


@pytest.mark.parametrize("version", PRODUCE_VERSIONS)
def test_kio_reads_what_we_write(version: int) -> None:
    topic_id = uuid.uuid4()
    data = [
        ProduceTopicResult(
            "orders",
            topic_id,
            [
                ProducePartitionResult(0, base_offset=41, log_start_offset=3),
                ProducePartitionResult(
                    7, int(ErrorCode.corrupt_message), error_message="record batch CRC mismatch"
                ),
            ],
        )
    ]
    frame = b"".join(encode_produce_response(1234, version, data))[4:]
    response = decode_response(ApiKey.PRODUCE, version, frame)
    topic = response.responses[0]
    if version >= 13:
        assert topic.topic_id == topic_id
    else:
        assert topic.name == "orders"
    ok, bad = topic.partition_responses
    assert (ok.index, ok.error_code, ok.base_offset) == (0, ErrorCode.none, 41)
    assert bad.error_code == ErrorCode.corrupt_message
    if version >= 5:
        assert ok.log_start_offset == 3
    if version >= 8:
        assert bad.error_message == "record batch CRC mismatch"


def test_unsupported_version_is_refused() -> None:
    with pytest.raises(ValueError, match="v2"):
        encode_produce_response(1, 2, [])
