"""Kafka clients against the original Rafka's multi-broker mode: three broker processes, each
owning one partition of every topic. Clients bootstrapped from one broker learn every owner
from Metadata and send each partition's requests there; a broker asked about a partition it
does not own answers NOT_LEADER_OR_FOLLOWER."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.errors import ErrorCode
from kio.schema.find_coordinator.v4.request import FindCoordinatorRequest
from kio.schema.list_offsets.v7.request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.produce.v9.request import PartitionProduceData, ProduceRequest, TopicProduceData

from rafka.broker.groups.store import partition_for_group
from rafka.partitioner import partition_for_key
from rafka.records.builder import Record, build_batch
from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.gen import rafka_pb2_grpc
from tests.server.test_kafka_apis import fetch_request
from tests.support.broker_process import BrokerProcess, free_port
from tests.support.raw_kafka import RawKafka

BROKERS = 3
KEYS = [f"user-{n}".encode() for n in range(60)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[BrokerProcess]]:
    root = tmp_path_factory.mktemp("multi-kafka")
    grpc_ports = [free_port() for _ in range(BROKERS)]
    kafka_ports = [free_port() for _ in range(BROKERS)]
    peers = ",".join(f"127.0.0.1:{port}" for port in grpc_ports)
    kafka_peers = ",".join(f"127.0.0.1:{port}" for port in kafka_ports)
    brokers = []
    for i in range(BROKERS):
        layout = ["--partition", str(i), "--total-partitions", str(BROKERS)]
        layout += ["--peers", peers, "--kafka-peers", kafka_peers]
        brokers.append(
            BrokerProcess(
                root / f"b{i}", *layout, kafka_port=kafka_ports[i], grpc_port=grpc_ports[i]
            )
        )
    try:
        for broker in brokers:
            broker.start()
        yield brokers
    finally:
        for broker in brokers:
            broker.stop()


def new_topic() -> str:
    return f"multi-{uuid.uuid4().hex[:10]}"


def produce_keyed(bootstrap: str, topic: str) -> list[tuple[bytes, int]]:
    """Every key once; returns (key, partition) as each delivery report gave it."""
    # librdkafka's default partitioner is CRC32-based; murmur2_random is Java's (and ours).
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    delivered: list[tuple[bytes, int]] = []

    def report(error: KafkaError | None, message: object) -> None:
        assert error is None, error
        delivered.append((message.key(), message.partition()))  # type: ignore[attr-defined]

    for key in KEYS:
        producer.produce(topic, key=key, value=b"value of " + key, on_delivery=report)
    assert producer.flush(30) == 0
    return delivered


def stored_per_partition(broker: BrokerProcess, topic: str) -> dict[int, int]:
    with grpc.insecure_channel(broker.grpc_target) as channel:
        metrics = rafka_pb2_grpc.BrokerServiceStub(channel).GetMetrics(
            pb.GetMetricsRequest(), timeout=10
        )
    return {p.partition: p.messages for p in metrics.partitions if p.topic == topic}


def test_metadata_from_any_broker_names_every_owner(cluster: list[BrokerProcess]) -> None:
    topic = new_topic()
    produce_keyed(cluster[0].bootstrap, topic)
    for asked in cluster:
        listing = AdminClient({"bootstrap.servers": asked.bootstrap}).list_topics(topic, 15)
        assert {b.id: f"{b.host}:{b.port}" for b in listing.brokers.values()} == {
            i: broker.bootstrap for i, broker in enumerate(cluster)
        }
        partitions = listing.topics[topic].partitions
        assert {p: meta.leader for p, meta in partitions.items()} == {0: 0, 1: 1, 2: 2}
    # Each broker created its share of the topic on its own; clients must still see one topic
    # (a topic id that changes between brokers reads as deleted and re-created).
    request = MetadataRequest(
        topics=(MetadataRequestTopic(topic_id=None, name=topic),),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )
    answers = []
    for broker in cluster:
        with RawKafka(broker.bootstrap) as raw:
            response = raw.call(3, 12, request)
        answers.append((response.cluster_id, response.topics[0].topic_id))
    assert answers[0] == answers[1] == answers[2]


def test_keyed_messages_land_on_their_owner_and_read_back(
    cluster: list[BrokerProcess], tmp_path: Path
) -> None:
    topic = new_topic()
    delivered = produce_keyed(cluster[0].bootstrap, topic)
    assert sorted(delivered) == sorted((k, partition_for_key(k, BROKERS)) for k in KEYS)
    expected = {p: sum(partition_for_key(k, BROKERS) == p for k in KEYS) for p in range(BROKERS)}
    assert all(expected.values()), "the keys did not spread over every broker"
    for i, broker in enumerate(cluster):
        stored = stored_per_partition(broker, topic)
        assert stored.get(i) == expected[i]
        assert all(count == 0 for p, count in stored.items() if p != i)

    # A consumer group bootstrapped from another broker reads every owner's partition.
    consumer = Consumer(
        {
            "bootstrap.servers": cluster[1].bootstrap,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumed: list[tuple[bytes, int]] = []
    try:
        consumer.subscribe([topic])
        for _ in range(300):
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                consumed.append((message.key(), message.partition()))
            if len(consumed) == len(KEYS):
                break
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert sorted(consumed) == sorted(delivered)

    if shutil.which("kcat") is not None:
        result = subprocess.run(
            ["kcat", "-b", cluster[2].bootstrap, "-C", "-t", topic, "-o", "beginning", "-e",
             "-q", "-f", "%p %k\n"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        lines = [line.split(b" ", 1) for line in result.stdout.splitlines()]
        assert sorted((key, int(p)) for p, key in lines) == sorted(delivered)


def test_every_broker_names_the_same_group_coordinator(cluster: list[BrokerProcess]) -> None:
    groups = [f"group-{n}" for n in range(12)]
    request = FindCoordinatorRequest(key_type=0, coordinator_keys=tuple(groups))
    answers = []
    for broker in cluster:
        with RawKafka(broker.bootstrap) as raw:
            response = raw.call(10, 4, request)
        assert all(c.error_code == ErrorCode.none for c in response.coordinators)
        answers.append([(c.key, c.node_id, c.port) for c in response.coordinators])
    assert answers[0] == answers[1] == answers[2]
    # Groups are spread over the brokers, each answered with that broker's Kafka port.
    assert {node for _, node, _ in answers[0]} == set(range(BROKERS))
    assert all(port == cluster[node].kafka_port for _, node, port in answers[0])


def test_a_broker_refuses_partitions_it_does_not_own(cluster: list[BrokerProcess]) -> None:
    topic = new_topic()
    produce_keyed(cluster[0].bootstrap, topic)
    batch = build_batch([Record(key=None, value=b"misrouted", headers=(), timestamp_ms=0)])
    produce = ProduceRequest(
        transactional_id=None,
        acks=1,
        timeout=timedelta(seconds=5),
        topic_data=(
            TopicProduceData(
                name=topic, partition_data=(PartitionProduceData(index=1, records=batch),)
            ),
        ),
    )
    list_offsets = ListOffsetsRequest(
        replica_id=-1,
        isolation_level=0,
        topics=(
            ListOffsetsTopic(
                name=topic,
                partitions=(
                    ListOffsetsPartition(partition_index=1, current_leader_epoch=-1, timestamp=-1),
                ),
            ),
        ),
    )
    before = stored_per_partition(cluster[1], topic)
    with RawKafka(cluster[0].bootstrap) as raw:
        produced = raw.call(0, 9, produce).responses[0].partition_responses[0]
        fetched = raw.call(1, 12, fetch_request({topic: [(1, 0)]}, max_wait_ms=5_000))
        listed = raw.call(2, 7, list_offsets).topics[0].partitions[0]
        # Broker 0 still serves its own partition.
        own = raw.call(1, 12, fetch_request({topic: [(0, 0)]})).responses[0].partitions[0]
    assert produced.error_code == ErrorCode.not_leader_or_follower
    assert "owned by broker 1" in (produced.error_message or "")
    assert fetched.responses[0].partitions[0].error_code == ErrorCode.not_leader_or_follower
    assert listed.error_code == ErrorCode.not_leader_or_follower
    assert own.error_code == ErrorCode.none and own.records
    assert stored_per_partition(cluster[0], topic).get(1, 0) == 0
    assert stored_per_partition(cluster[1], topic) == before


def test_topics_created_over_kafka_have_one_partition_per_broker(
    cluster: list[BrokerProcess],
) -> None:
    admin = AdminClient({"bootstrap.servers": cluster[0].bootstrap})
    good, bad = new_topic(), new_topic()
    futures = admin.create_topics(
        [NewTopic(good, num_partitions=BROKERS), NewTopic(bad, num_partitions=5)]
    )
    futures[good].result(15)
    with pytest.raises(KafkaException) as refused:
        futures[bad].result(15)
    assert refused.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    assert f"every topic has {BROKERS} partitions" in refused.value.args[0].str()
    partitions = admin.list_topics(good, 15).topics[good].partitions
    assert {p: meta.leader for p, meta in partitions.items()} == {0: 0, 1: 1, 2: 2}


def test_a_topic_that_reached_one_broker_is_still_read_and_committed_everywhere(
    cluster: list[BrokerProcess],
) -> None:
    topic = new_topic()
    producer = Producer({"bootstrap.servers": cluster[0].bootstrap})
    for n in range(5):
        producer.produce(topic, value=b"%d" % n, partition=0)
    assert producer.flush(30) == 0
    # A group coordinated by a broker that no client has sent this topic's records to.
    group = next(g for g in (f"late-{n}" for n in range(100)) if partition_for_group(g, 3) == 2)
    consumer = Consumer(
        {
            "bootstrap.servers": cluster[1].bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    values: list[bytes] = []
    try:
        consumer.subscribe([topic])
        for _ in range(300):
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                values.append(message.value())
            if len(values) == 5:
                break
        committed = consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    assert values == [b"0", b"1", b"2", b"3", b"4"]
    assert committed is not None and all(tp.error is None for tp in committed)
