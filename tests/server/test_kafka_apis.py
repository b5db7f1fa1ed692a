"""Kafka APIs exercised over a raw socket where client libraries hide the details: every
Produce version, fetch long polls and sessions, LogAppendTime, ListOffsets variants,
OffsetForLeaderEpoch, DescribeCluster, CreateTopics validate_only."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from datetime import timedelta

import pytest
from kio.schema.create_topics.v7.request import (
    CreatableTopic,
    CreatableTopicConfig,
    CreateTopicsRequest,
)
from kio.schema.describe_cluster.v1.request import DescribeClusterRequest
from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12.request import (
    FetchPartition,
    FetchRequest,
    FetchTopic,
    ForgottenTopic,
)
from kio.schema.list_offsets.v8.request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from kio.schema.offset_for_leader_epoch.v4.request import (
    OffsetForLeaderEpochRequest,
    OffsetForLeaderPartition,
    OffsetForLeaderTopic,
)

from rafka.protocol import _kio
from rafka.records.builder import Record, build_batch, decode_batches
from tests.server.test_kafka_bad_input import create, produce_request
from tests.support.broker_process import BrokerProcess
from tests.support.raw_kafka import RawKafka


def batch(*values: bytes, timestamp_ms: int = 1_700_000_000_000) -> bytes:
    return build_batch(
        [Record(key=None, value=v, headers=(), timestamp_ms=timestamp_ms + i, offset=i)
         for i, v in enumerate(values)]
    )


def fetch_request(
    topics: dict[str, list[tuple[int, int]]], *, max_wait_ms: int = 0, min_bytes: int = 1,
    session_id: int = 0, session_epoch: int = -1,
    forgotten: dict[str, list[int]] | None = None,
) -> FetchRequest:
    return FetchRequest(
        cluster_id=None, replica_id=-1, max_wait=timedelta(milliseconds=max_wait_ms),
        min_bytes=min_bytes, max_bytes=50_000_000, isolation_level=0,
        session_id=session_id, session_epoch=session_epoch,
        topics=tuple(
            FetchTopic(topic=name, partitions=tuple(
                FetchPartition(partition=p, current_leader_epoch=-1, fetch_offset=offset,
                               last_fetched_epoch=-1, log_start_offset=-1,
                               partition_max_bytes=1_000_000)
                for p, offset in parts))
            for name, parts in topics.items()
        ),
        forgotten_topics_data=tuple(
            ForgottenTopic(topic=name, partitions=tuple(parts))
            for name, parts in (forgotten or {}).items()
        ),
        rack_id="",
    )


def values_in(response: object) -> list[bytes | None]:
    out: list[bytes | None] = []
    for topic in response.responses:  # type: ignore[attr-defined]
        for partition in topic.partitions:
            out.extend(r.value for r in decode_batches(partition.records or b""))
    return out


def test_long_poll_is_woken_by_an_append(shared_broker: BrokerProcess) -> None:
    topic = f"longpoll-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap, timeout=60) as consumer, \
            RawKafka(shared_broker.bootstrap) as producer:
        create(producer, topic)
        result: list[object] = []
        # A 50 s wait that must end with data, long before it would time out empty.
        thread = threading.Thread(
            target=lambda: result.append(
                consumer.call(1, 12, fetch_request({topic: [(0, 0)]}, max_wait_ms=50_000))
            )
        )
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the fetch returned before anything was produced"
        producer.call(0, 9, produce_request(topic, batch(b"wake up")))
        thread.join(timeout=30)
        assert not thread.is_alive(), "the fetch was not woken by the append"
        assert values_in(result[0]) == [b"wake up"]


def test_min_bytes_waits_for_enough_data(shared_broker: BrokerProcess) -> None:
    topic = f"minbytes-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap, timeout=60) as raw:
        create(raw, topic)
        raw.call(0, 9, produce_request(topic, batch(b"small")))
        started = time.monotonic()
        response = raw.call(1, 12, fetch_request({topic: [(0, 0)]}, max_wait_ms=300,
                                                 min_bytes=1_000_000))
        # Not enough data ever arrives, so the broker answers at max_wait with what it has.
        assert time.monotonic() - started >= 0.25
        assert values_in(response) == [b"small"]


def test_offset_out_of_range(shared_broker: BrokerProcess) -> None:
    topic = f"oor-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap) as raw:
        create(raw, topic)
        raw.call(0, 9, produce_request(topic, batch(b"a", b"b")))
        response = raw.call(1, 12, fetch_request({topic: [(0, 5)]}))
        partition = response.responses[0].partitions[0]
        assert partition.error_code == ErrorCode.offset_out_of_range
        assert partition.high_watermark == 2


def test_incremental_fetch_session(shared_broker: BrokerProcess) -> None:
    topic = f"session-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap) as raw:
        create(raw, topic)
        raw.call(0, 9, produce_request(topic, batch(b"one")))
        full = raw.call(1, 12, fetch_request({topic: [(0, 0)]}, session_id=0, session_epoch=0))
        assert full.error_code == ErrorCode.none and full.session_id != 0
        assert values_in(full) == [b"one"]
        session = full.session_id

        # Nothing new: an incremental fetch answers no partitions at all.
        quiet = raw.call(1, 12, fetch_request({topic: [(0, 1)]}, session_id=session,
                                              session_epoch=1))
        assert quiet.error_code == ErrorCode.none and quiet.responses == ()

        # New data: the partition reappears without being named in the request.
        raw.call(0, 9, produce_request(topic, batch(b"two")))
        incremental = raw.call(1, 12, fetch_request({}, session_id=session, session_epoch=2))
        assert values_in(incremental) == [b"two"]

        stale = raw.call(1, 12, fetch_request({}, session_id=session, session_epoch=2))
        assert stale.error_code == ErrorCode.invalid_fetch_session_epoch
        unknown = raw.call(1, 12, fetch_request({}, session_id=session + 12345, session_epoch=1))
        assert unknown.error_code == ErrorCode.fetch_session_id_not_found

        forgotten = raw.call(1, 12, fetch_request({}, session_id=session, session_epoch=3,
                                                  forgotten={topic: [0]}))
        assert forgotten.responses == ()


def list_offset(raw: RawKafka, topic: str, timestamp: int) -> tuple[int, int]:
    response = raw.call(2, 8, ListOffsetsRequest(
        replica_id=-1, isolation_level=0,
        topics=(ListOffsetsTopic(name=topic, partitions=(
            ListOffsetsPartition(partition_index=0, current_leader_epoch=-1,
                                 timestamp=timestamp),)),)))
    partition = response.topics[0].partitions[0]
    assert partition.error_code == ErrorCode.none
    return int(partition.offset), int(partition.timestamp)


def test_list_offsets_variants(shared_broker: BrokerProcess) -> None:
    topic = f"listoffsets-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap) as raw:
        create(raw, topic)
        raw.call(0, 9, produce_request(topic, batch(b"a", b"b", timestamp_ms=1000)))
        raw.call(0, 9, produce_request(topic, batch(b"c", timestamp_ms=5000)))
        raw.call(0, 9, produce_request(topic, batch(b"d", timestamp_ms=3000)))
        assert list_offset(raw, topic, -2)[0] == 0  # earliest
        assert list_offset(raw, topic, -1)[0] == 4  # latest
        assert list_offset(raw, topic, -3) == (2, 5000)  # max timestamp
        assert list_offset(raw, topic, 1001)[0] == 1  # first record at or after 1001
        assert list_offset(raw, topic, 4000)[0] == 2
        assert list_offset(raw, topic, 9000) == (-1, -1)  # nothing that new


def test_log_append_time_topic(shared_broker: BrokerProcess) -> None:
    topic = f"appendtime-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap) as raw:
        response = raw.call(19, 7, CreateTopicsRequest(
            topics=(CreatableTopic(name=topic, num_partitions=1, replication_factor=1,
                                   assignments=(), configs=(CreatableTopicConfig(
                                       name="message.timestamp.type", value="LogAppendTime"),)),),
            timeout=timedelta(seconds=10), validate_only=False))
        assert response.topics[0].error_code == ErrorCode.none
        before = int(time.time() * 1000)
        produced = raw.call(0, 9, produce_request(topic, batch(b"x", timestamp_ms=42)))
        append_time = produced.responses[0].partition_responses[0].log_append_time
        assert append_time is not None
        assert int(append_time.timestamp() * 1000) >= before - 1000
        fetched = raw.call(1, 12, fetch_request({topic: [(0, 0)]}))
        records = decode_batches(fetched.responses[0].partitions[0].records)
        # The batch is marked LogAppendTime and its records read the broker's time, not 42.
        assert records[0].timestamp_ms == int(append_time.timestamp() * 1000)


def test_create_topics_validate_only_and_bad_configs(shared_broker: BrokerProcess) -> None:
    topic = f"validate-{uuid.uuid4().hex[:6]}"

    def create_topics(configs: dict[str, str], validate_only: bool) -> object:
        with RawKafka(shared_broker.bootstrap) as raw:
            return raw.call(19, 7, CreateTopicsRequest(
                topics=(CreatableTopic(
                    name=topic, num_partitions=3, replication_factor=1, assignments=(),
                    configs=tuple(CreatableTopicConfig(name=k, value=v)
                                  for k, v in configs.items())),),
                timeout=timedelta(seconds=10), validate_only=validate_only))

    checked = create_topics({"retention.ms": "1000"}, validate_only=True)
    assert checked.topics[0].error_code == ErrorCode.none  # type: ignore[attr-defined]
    assert checked.topics[0].num_partitions == 3  # type: ignore[attr-defined]
    for configs, code in [
        ({"retention.ms": "soon"}, ErrorCode.invalid_config),
        ({"no.such.config": "1"}, ErrorCode.invalid_config),
        ({"cleanup.policy": "shred"}, ErrorCode.invalid_config),
    ]:
        refused = create_topics(configs, validate_only=False)
        assert refused.topics[0].error_code == code  # type: ignore[attr-defined]
        assert refused.topics[0].error_message  # type: ignore[attr-defined]
    created = create_topics({}, validate_only=False)
    assert created.topics[0].error_code == ErrorCode.none  # type: ignore[attr-defined]


def test_offset_for_leader_epoch_and_describe_cluster(shared_broker: BrokerProcess) -> None:
    topic = f"epochs-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap) as raw:
        create(raw, topic)
        raw.call(0, 9, produce_request(topic, batch(b"a", b"b", b"c")))
        response = raw.call(23, 4, OffsetForLeaderEpochRequest(
            replica_id=-2, topics=(OffsetForLeaderTopic(topic=topic, partitions=(
                OffsetForLeaderPartition(partition=0, current_leader_epoch=0, leader_epoch=0),
            )),)))
        result = response.topics[0].partitions[0]
        assert (result.error_code, result.leader_epoch, result.end_offset) == (
            ErrorCode.none, 0, 3)
        cluster = raw.call(60, 1, DescribeClusterRequest(
            include_cluster_authorized_operations=False, endpoint_type=1))
        assert cluster.error_code == ErrorCode.none
        assert [(b.broker_id, b.port) for b in cluster.brokers] == [(0, shared_broker.kafka_port)]


@pytest.mark.parametrize("storage", ["in_memory"])
def test_in_memory_storage_serves_clients(tmp_path: object, storage: str) -> None:
    from pathlib import Path

    with BrokerProcess(Path(str(tmp_path)) / "data", "--storage", storage) as broker, \
            RawKafka(broker.bootstrap) as raw:
        topic = "memory"
        create(raw, topic)
        raw.call(0, 9, produce_request(topic, batch(b"kept in memory")))
        assert values_in(raw.call(1, 12, fetch_request({topic: [(0, 0)]}))) == [b"kept in memory"]


def test_produce_every_version_one_and_two_partitions(shared_broker: BrokerProcess) -> None:
    """Every Produce version the broker serves (classic v3-8, flexible v9-12, topic ids from
    v13), with one entry for the partition and with two, lands in order with the offsets the
    answers name; a bad batch is refused at a classic and a flexible version."""
    topic = f"versions-{uuid.uuid4().hex[:6]}"
    with RawKafka(shared_broker.bootstrap) as raw:
        topic_id = create(raw, topic)

        def produce(version: int, batches: list[bytes]) -> list[tuple[int, int]]:
            request_type = _kio.request_type(0, version)
            module = sys.modules[request_type.__module__]
            key = {"topic_id": topic_id} if version >= 13 else {"name": topic}
            response = raw.call(0, version, request_type(
                transactional_id=None, acks=-1, timeout=timedelta(seconds=5),
                topic_data=(module.TopicProduceData(**key, partition_data=tuple(
                    module.PartitionProduceData(index=0, records=records)
                    for records in batches)),)))
            return [(a.error_code, a.base_offset)
                    for a in response.responses[0].partition_responses]

        sent: list[bytes] = []
        for version in range(3, 14):
            for entries in (1, 2):
                values = [f"v{version}-{entries}-{i}".encode() for i in range(entries)]
                assert produce(version, [batch(v) for v in values]) == [
                    (ErrorCode.none, len(sent) + i) for i in range(entries)]
                sent += values
        bad = bytearray(batch(b"evil"))
        bad[-1] ^= 0xFF
        for version in (7, 10):
            assert produce(version, [bytes(bad)]) == [(ErrorCode.corrupt_message, -1)]
        assert values_in(raw.call(1, 12, fetch_request({topic: [(0, 0)]}))) == sent
