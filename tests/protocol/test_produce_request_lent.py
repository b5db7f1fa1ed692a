"""Large Produce requests read with their records lent from the frame, against kio's reader."""

from __future__ import annotations

import datetime
import sys
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rafka.protocol import _kio, decode_request, encode_request
from rafka.protocol.produce_request import LENT_RECORDS_MIN_BYTES, read_produce_lent
from rafka.protocol.tagged_fields import read_tolerant
from tests.protocol.protocol_strategies import quick

VERSIONS = range(3, 14)


def request_strategy(version: int) -> st.SearchStrategy[Any]:
    request_type = _kio.request_type(0, version)
    module = sys.modules[request_type.__module__]
    partitions = st.builds(
        module.PartitionProduceData,
        index=st.integers(-(2**31), 2**31 - 1),
        records=st.none() | st.binary(max_size=300),
    )
    partition_lists = st.lists(partitions, max_size=3).map(tuple)
    if version >= 13:
        topics = st.builds(
            module.TopicProduceData, topic_id=st.uuids(), partition_data=partition_lists
        )
    else:
        topics = st.builds(
            module.TopicProduceData, name=st.text(max_size=20), partition_data=partition_lists
        )
    return st.builds(
        request_type,
        transactional_id=st.none() | st.text(max_size=20),
        acks=st.sampled_from([-1, 0, 1, 7]),
        timeout=st.integers(-(2**31), 2**31 - 1).map(
            lambda ms: datetime.timedelta(milliseconds=ms)
        ),
        topic_data=st.lists(topics, max_size=3).map(tuple),
    )


def as_kio_would_read(request: Any) -> Any:
    """`request` with every lent records view turned into bytes, as kio returns them."""
    module = sys.modules[type(request).__module__]
    topics = []
    for topic in request.topic_data:
        partitions = tuple(
            module.PartitionProduceData(
                index=p.index, records=None if p.records is None else bytes(p.records)
            )
            for p in topic.partition_data
        )
        key = {"topic_id": topic.topic_id} if hasattr(topic, "topic_id") else {"name": topic.name}
        topics.append(module.TopicProduceData(**key, partition_data=partitions))
    return type(request)(
        transactional_id=request.transactional_id,
        acks=request.acks,
        timeout=request.timeout,
        topic_data=tuple(topics),
    )


@pytest.mark.parametrize("version", VERSIONS)
@quick
@given(data=st.data(), prefix=st.binary(max_size=5))
def test_reads_what_kio_reads(version: int, data: st.DataObject, prefix: bytes) -> None:
    request = data.draw(request_strategy(version))
    body = _kio.encode_entity(request)
    frame = memoryview(prefix + body + b"trailing").toreadonly()
    request_type = _kio.request_type(0, version)

    lent = read_produce_lent(request_type, frame, len(prefix))

    assert lent is not None
    ours, end = lent
    theirs, kio_end, _ = read_tolerant(request_type, frame, len(prefix))
    assert end == kio_end == len(prefix) + len(body)
    assert as_kio_would_read(ours) == theirs
    for topic in ours.topic_data:
        for partition in topic.partition_data:
            assert partition.records is None or isinstance(partition.records, memoryview)


@pytest.mark.parametrize("version", [3, 8, 9, 13])
def test_truncated_or_tagged_bodies_are_left_to_kio(version: int) -> None:
    request_type = _kio.request_type(0, version)
    module = sys.modules[request_type.__module__]
    key = {"topic_id": uuid.uuid4()} if version >= 13 else {"name": "t"}
    request = request_type(
        transactional_id=None,
        acks=1,
        timeout=datetime.timedelta(seconds=30),
        topic_data=(
            module.TopicProduceData(
                **key,
                partition_data=(module.PartitionProduceData(index=0, records=b"x" * 100),),
            ),
        ),
    )
    body = _kio.encode_entity(request)
    for cut in (1, 7, len(body) // 2, len(body) - 1):
        assert read_produce_lent(request_type, memoryview(body[:cut]), 0) is None
    if version >= 9:
        # One top-level tagged field (tag 5, 1 byte) where the empty tag section was.
        tagged = body[:-1] + bytes([1, 5, 1, 0xAA])
        assert read_produce_lent(request_type, memoryview(tagged), 0) is None


@pytest.mark.parametrize("version", [3, 9, 13])
def test_decode_request_lends_records_from_large_frames_only(version: int) -> None:
    request_type = _kio.request_type(0, version)
    module = sys.modules[request_type.__module__]
    key = {"topic_id": uuid.uuid4()} if version >= 13 else {"name": "events"}

    def produce(records_size: int) -> tuple[Any, bytes]:
        records = bytes(range(256)) * (records_size // 256)
        request = request_type(
            transactional_id=None,
            acks=-1,
            timeout=datetime.timedelta(seconds=5),
            topic_data=(
                module.TopicProduceData(
                    **key,
                    partition_data=(
                        module.PartitionProduceData(index=2, records=records),
                        module.PartitionProduceData(index=3, records=None),
                    ),
                ),
            ),
        )
        frame = encode_request(0, version, 41, "client", request)[4:]  # without the prefix
        return request, frame

    small_request, small_frame = produce(1024)
    small = decode_request(small_frame)
    assert small.body == small_request
    assert isinstance(small.body.topic_data[0].partition_data[0].records, bytes)

    large_request, large_frame = produce(LENT_RECORDS_MIN_BYTES)
    assert len(large_frame) >= LENT_RECORDS_MIN_BYTES
    buffer = bytearray(large_frame)  # as the frame decoder lends it: a view of its buffer
    large = decode_request(memoryview(buffer).toreadonly())
    assert (large.correlation_id, large.client_id) == (41, "client")
    records = large.body.topic_data[0].partition_data[0].records
    assert isinstance(records, memoryview)
    assert records.readonly
    assert records == large_request.topic_data[0].partition_data[0].records
    assert large.body.topic_data[0].partition_data[1].records is None
    assert as_kio_would_read(large.body) == large_request
