"""Bad input on the Kafka port: the offending connection is closed or answered with the right
error, nothing is appended, and the broker keeps serving everyone else."""

from __future__ import annotations

import struct
import uuid
from datetime import timedelta

import pytest
from confluent_kafka import Producer
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.errors import ErrorCode
from kio.schema.list_offsets.v7.request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.produce.v9.request import PartitionProduceData, ProduceRequest, TopicProduceData

from rafka.records.builder import Record, build_batch
from tests.support.broker_process import BrokerProcess
from tests.support.raw_kafka import RawKafka


def assert_still_serves(broker: BrokerProcess) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    delivered: list[object] = []
    producer.produce(
        f"alive-{uuid.uuid4().hex[:6]}", b"ok", on_delivery=lambda e, m: delivered.append(e)
    )
    producer.flush(20)
    assert delivered == [None]


def create(raw: RawKafka, topic: str) -> uuid.UUID:
    """Create `topic` through Metadata's auto-creation; returns its topic id."""
    response = raw.call(
        3,
        12,
        MetadataRequest(
            topics=(MetadataRequestTopic(topic_id=None, name=topic),),
            allow_auto_topic_creation=True,
            include_topic_authorized_operations=False,
        ),
    )
    assert response.topics[0].error_code == ErrorCode.none
    topic_id: uuid.UUID = response.topics[0].topic_id
    return topic_id


def latest_offset(raw: RawKafka, topic: str) -> int:
    response = raw.call(
        2,
        7,
        ListOffsetsRequest(
            replica_id=-1,
            isolation_level=0,
            topics=(
                ListOffsetsTopic(
                    name=topic,
                    partitions=(
                        ListOffsetsPartition(
                            partition_index=0, current_leader_epoch=-1, timestamp=-1
                        ),
                    ),
                ),
            ),
        ),
    )
    return int(response.topics[0].partitions[0].offset)


def produce_request(topic: str, records: bytes, acks: int = 1) -> ProduceRequest:
    return ProduceRequest(
        transactional_id=None,
        acks=acks,
        timeout=timedelta(seconds=5),
        topic_data=(
            TopicProduceData(
                name=topic, partition_data=(PartitionProduceData(index=0, records=records),)
            ),
        ),
    )


def one_batch(value: bytes = b"v") -> bytes:
    return build_batch(
        [Record(key=None, value=value, headers=(), timestamp_ms=1_700_000_000_000, offset=0)]
    )


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x00\x00\x00\x10" + b"\xff" * 16, id="garbage-body"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http-request"),
        pytest.param(struct.pack(">i", 2**31 - 1), id="frame-claiming-2GiB"),
        pytest.param(struct.pack(">i", -5), id="negative-size"),
        pytest.param(struct.pack(">ihhi", 8, 999, 0, 1), id="unknown-api-key"),
        pytest.param(struct.pack(">ihhih", 10, 3, 99, 7, -1), id="unsupported-metadata-version"),
    ],
)
def test_bad_frames_close_only_that_connection(
    shared_broker: BrokerProcess, payload: bytes
) -> None:
    with RawKafka(shared_broker.bootstrap) as bystander, RawKafka(shared_broker.bootstrap) as bad:
        bad.send_raw(payload)
        assert bad.is_closed_by_peer()
        topic = f"bystander-{uuid.uuid4().hex[:6]}"
        create(bystander, topic)
        assert latest_offset(bystander, topic) == 0
    assert_still_serves(shared_broker)


def test_truncated_frame_then_disconnect(shared_broker: BrokerProcess) -> None:
    with RawKafka(shared_broker.bootstrap) as raw:
        raw.send_raw(struct.pack(">i", 100) + b"\x00\x03\x00\x0c")
    assert_still_serves(shared_broker)


def test_unsupported_api_versions_gets_v0_fallback(shared_broker: BrokerProcess) -> None:
    with RawKafka(shared_broker.bootstrap) as raw:
        raw.send_raw(struct.pack(">ihhih", 10, 18, 99, 42, -1))
        frame = raw.read_frame()
        correlation_id, error_code = struct.unpack_from(">ih", frame)
        assert (correlation_id, error_code) == (42, ErrorCode.unsupported_version)
        # The connection stays usable: the client retries with a version we support.
        response = raw.call(
            18, 3, ApiVersionsRequest(client_software_name="t", client_software_version="1")
        )
        assert response.error_code == ErrorCode.none
        keys = {api.api_key for api in response.api_keys}
        assert {0, 1, 2, 3, 18} <= keys


def test_wrong_crc_is_corrupt_message_and_nothing_is_appended(shared_broker: BrokerProcess) -> None:
    topic = f"crc-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap) as raw:
        create(raw, topic)
        good = one_batch(b"good")
        bad = bytearray(one_batch(b"evil"))
        bad[-1] ^= 0xFF  # flip a bit in the record: the CRC no longer matches
        response = raw.call(0, 9, produce_request(topic, bytes(bad)))
        partition = response.responses[0].partition_responses[0]
        assert partition.error_code == ErrorCode.corrupt_message
        assert latest_offset(raw, topic) == 0
        # A request with a good batch followed by a bad one appends nothing either.
        response = raw.call(0, 9, produce_request(topic, good + bytes(bad)))
        assert response.responses[0].partition_responses[0].error_code == ErrorCode.corrupt_message
        assert latest_offset(raw, topic) == 0
        response = raw.call(0, 9, produce_request(topic, good))
        assert response.responses[0].partition_responses[0].error_code == ErrorCode.none
        assert latest_offset(raw, topic) == 1


def test_produce_errors_per_partition(shared_broker: BrokerProcess) -> None:
    topic = f"errs-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap) as raw:
        create(raw, topic)
        unknown = raw.call(0, 9, produce_request(f"missing-{topic}", one_batch()))
        assert unknown.responses[0].partition_responses[0].error_code == (
            ErrorCode.unknown_topic_or_partition
        )
        bad_acks = raw.call(0, 9, produce_request(topic, one_batch(), acks=2))
        assert bad_acks.responses[0].partition_responses[0].error_code == (
            ErrorCode.invalid_required_acks
        )
        too_big = raw.call(0, 9, produce_request(topic, one_batch(b"x" * 2_000_000)))
        assert too_big.responses[0].partition_responses[0].error_code == (
            ErrorCode.message_too_large
        )
        wrong_magic = bytearray(one_batch())
        wrong_magic[16] = 1
        invalid = raw.call(0, 9, produce_request(topic, bytes(wrong_magic)))
        assert invalid.responses[0].partition_responses[0].error_code in (
            ErrorCode.invalid_record,
            ErrorCode.corrupt_message,
        )
        assert latest_offset(raw, topic) == 0


def test_acks_zero_never_answers(shared_broker: BrokerProcess) -> None:
    topic = f"acks0-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap) as raw:
        create(raw, topic)
        raw.send(0, 9, produce_request(topic, one_batch(), acks=0))
        # The next response on the wire belongs to the next request.
        assert latest_offset(raw, topic) == 1


def test_internal_offsets_topic_is_protected(shared_broker: BrokerProcess) -> None:
    from kio.schema.delete_topics.v6.request import DeleteTopicsRequest, DeleteTopicState

    with RawKafka(shared_broker.bootstrap) as raw:
        written = raw.call(0, 9, produce_request("__consumer_offsets", one_batch()))
        assert written.responses[0].partition_responses[0].error_code == (
            ErrorCode.invalid_topic_exception
        )
        deleted = raw.call(20, 6, DeleteTopicsRequest(
            topics=(DeleteTopicState(name="__consumer_offsets", topic_id=None),),
            timeout=timedelta(seconds=5)))
        assert deleted.responses[0].error_code == ErrorCode.invalid_request
    assert_still_serves(shared_broker)
