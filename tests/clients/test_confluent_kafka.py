"""librdkafka (confluent-kafka) against a real broker process: produce, consume, administer."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterator

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from tests.support.broker_process import BrokerProcess

COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"]


def new_topic_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def admin(broker: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create_topic(broker: BrokerProcess, name: str, partitions: int = 1, **configs: str) -> None:
    client = admin(broker)  # must outlive the future: a destroyed client fails its futures
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=configs)]
    )
    futures[name].result(timeout=15)


def produce(
    broker: BrokerProcess,
    topic: str,
    messages: list[tuple[bytes | None, bytes | None]],
    **config: object,
) -> list[tuple[int, int]]:
    """Produce and wait for every delivery report; returns (partition, offset) per message."""
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, **config})
    reports: list[tuple[int, int] | KafkaError] = []

    def on_delivery(err: KafkaError | None, msg: object) -> None:
        reports.append(err if err is not None else (msg.partition(), msg.offset()))  # type: ignore[attr-defined]

    for key, value in messages:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    errors = [r for r in reports if isinstance(r, KafkaError)]
    assert not errors, errors
    return [r for r in reports if not isinstance(r, KafkaError)]


def consume_all(
    broker: BrokerProcess,
    topic: str,
    expected: int,
    partitions: int = 1,
    start: int = OFFSET_BEGINNING,
    timeout: float = 30,
    **config: object,
) -> list[object]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": "unused",
            "enable.auto.commit": False,
            **config,
        }
    )
    consumer.assign([TopicPartition(topic, p, start) for p in range(partitions)])
    received: list[object] = []
    deadline = time.monotonic() + timeout
    try:
        while len(received) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                if msg.error() is None:
                    received.append(msg)
                elif msg.error().code() != KafkaError._PARTITION_EOF:
                    raise AssertionError(msg.error())
    finally:
        consumer.close()
    return received


@pytest.fixture(scope="module")
def kafka(shared_broker: BrokerProcess) -> Iterator[BrokerProcess]:
    yield shared_broker


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_produce_with_every_acks_setting_then_consume(kafka: BrokerProcess, acks: str) -> None:
    topic = new_topic_name("acks")
    create_topic(kafka, topic)
    values = [f"message {i}".encode() for i in range(500)]
    produce(kafka, topic, [(None, v) for v in values], acks=acks)
    received = consume_all(kafka, topic, len(values))
    assert [m.value() for m in received] == values  # type: ignore[attr-defined]
    assert [m.offset() for m in received] == list(range(len(values)))  # type: ignore[attr-defined]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_compression_type_round_trips(kafka: BrokerProcess, compression: str) -> None:
    topic = new_topic_name(compression)
    create_topic(kafka, topic)
    values = [(f"key-{i}".encode(), (f"value {i} " * 20).encode()) for i in range(300)]
    produce(kafka, topic, values, **{"compression.type": compression})
    received = consume_all(kafka, topic, len(values))
    assert [(m.key(), m.value()) for m in received] == values  # type: ignore[attr-defined]


def test_headers_keys_and_tombstones(kafka: BrokerProcess) -> None:
    topic = new_topic_name("headers")
    create_topic(kafka, topic)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    producer.produce(topic, key=b"k1", value=b"v1", headers=[("h1", b"x"), ("h2", None)])
    producer.produce(topic, key=b"k1", value=None)  # tombstone
    producer.produce(topic, key=None, value=b"no key")
    assert producer.flush(15) == 0
    received = consume_all(kafka, topic, 3)
    first, tombstone, keyless = received
    assert first.headers() == [("h1", b"x"), ("h2", None)]  # type: ignore[attr-defined]
    assert (tombstone.key(), tombstone.value()) == (b"k1", None)  # type: ignore[attr-defined]
    assert (keyless.key(), keyless.value()) == (None, b"no key")  # type: ignore[attr-defined]


def test_consume_from_latest_and_from_timestamp(kafka: BrokerProcess) -> None:
    topic = new_topic_name("positions")
    create_topic(kafka, topic)
    produce(kafka, topic, [(None, b"old-%d" % i) for i in range(10)])
    time.sleep(0.05)
    boundary_ms = int(time.time() * 1000)
    time.sleep(0.05)
    produce(kafka, topic, [(None, b"new-%d" % i) for i in range(5)])

    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "ts"})
    found = consumer.offsets_for_times([TopicPartition(topic, 0, boundary_ms)], timeout=10)
    consumer.close()
    assert found[0].offset == 10
    from_time = consume_all(kafka, topic, 5, start=found[0].offset)
    assert [m.value() for m in from_time] == [b"new-%d" % i for i in range(5)]  # type: ignore[attr-defined]

    latest = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "latest"})
    latest.assign([TopicPartition(topic, 0, OFFSET_END)])
    latest.consume(10, timeout=2)  # establishes the position at the end
    produce(kafka, topic, [(None, b"after")])
    got: list[object] = []
    deadline = time.monotonic() + 15
    while not got and time.monotonic() < deadline:
        got = [m for m in latest.consume(10, timeout=0.5) if m.error() is None]
    latest.close()
    assert [m.value() for m in got] == [b"after"]  # type: ignore[attr-defined]
    low, high = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": "wm"}
    ).get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    assert (low, high) == (0, 16)


def test_large_message_after_raising_max_message_bytes(kafka: BrokerProcess) -> None:
    topic = new_topic_name("large")
    create_topic(kafka, topic)
    big = bytes(range(256)) * (5 * 1024 * 1024 // 256)
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "message.max.bytes": 10_000_000})
    errors: list[KafkaError] = []
    producer.produce(topic, value=big, on_delivery=lambda e, m: errors.append(e))
    producer.flush(30)
    assert errors and errors[0] is not None
    assert errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE

    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, {"max.message.bytes": "8000000"})
    client = admin(kafka)
    # The legacy AlterConfigs (API 33) on purpose, which older clients still send; the admin
    # test below uses IncrementalAlterConfigs. confluent-kafka warns that this is deprecated.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.alter_configs([resource])[resource].result(timeout=15)
    produce(kafka, topic, [(None, big)], **{"message.max.bytes": 10_000_000})
    received = consume_all(kafka, topic, 1, **{"fetch.max.bytes": 20_000_000})
    assert received[0].value() == big  # type: ignore[attr-defined]


def test_admin_create_describe_alter_delete(kafka: BrokerProcess) -> None:
    client = admin(kafka)
    topic = new_topic_name("admin")
    futures = client.create_topics(
        [
            NewTopic(
                topic,
                num_partitions=3,
                replication_factor=1,
                config={"retention.ms": "3600000", "cleanup.policy": "delete"},
            )
        ]
    )
    futures[topic].result(timeout=15)
    metadata = client.list_topics(timeout=10)
    assert len(metadata.topics[topic].partitions) == 3

    duplicate = client.create_topics([NewTopic(topic, num_partitions=1)])[topic]
    with pytest.raises(Exception, match="TOPIC_ALREADY_EXISTS"):
        duplicate.result(timeout=15)

    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = client.describe_configs([resource])[resource].result(timeout=15)
    assert configs["retention.ms"].value == "3600000"
    assert not configs["retention.ms"].is_default
    assert configs["segment.bytes"].is_default

    # IncrementalAlterConfigs, as kafka-configs.sh sends it: set one config, reset another.
    changes = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("segment.bytes", "2000000", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    client.incremental_alter_configs([changes])[changes].result(timeout=15)
    configs = client.describe_configs([resource])[resource].result(timeout=15)
    assert configs["segment.bytes"].value == "2000000"
    assert not configs["segment.bytes"].is_default
    assert configs["retention.ms"].is_default
    assert configs["cleanup.policy"].value == "delete"

    client.create_partitions([NewPartitions(topic, 5)])[topic].result(timeout=15)
    assert len(client.list_topics(timeout=10).topics[topic].partitions) == 5

    client.delete_topics([topic])[topic].result(timeout=15)
    assert topic not in client.list_topics(timeout=10).topics


def test_invalid_topic_names_are_refused(kafka: BrokerProcess) -> None:
    client = admin(kafka)
    futures = client.create_topics([NewTopic("bad name!", num_partitions=1)])
    with pytest.raises(Exception, match="TOPIC_EXCEPTION"):
        futures["bad name!"].result(timeout=15)


def test_delete_records_moves_the_low_watermark(kafka: BrokerProcess) -> None:
    topic = new_topic_name("delrec")
    create_topic(kafka, topic)
    produce(kafka, topic, [(None, b"m%d" % i) for i in range(20)])
    client = admin(kafka)
    result = client.delete_records([TopicPartition(topic, 0, 12)])
    deleted = next(iter(result.values())).result(timeout=15)
    assert deleted.low_watermark == 12
    received = consume_all(kafka, topic, 8)
    assert received[0].offset() == 12  # type: ignore[attr-defined]


def test_idempotent_producer(kafka: BrokerProcess) -> None:
    topic = new_topic_name("idempotent")
    create_topic(kafka, topic, partitions=2)
    values = [(b"k%d" % (i % 7), b"idempotent %d" % i) for i in range(2000)]
    produce(kafka, topic, values, **{"enable.idempotence": True, "acks": "all"})
    received = consume_all(kafka, topic, len(values), partitions=2)
    assert sorted(m.value() for m in received) == sorted(v for _, v in values)  # type: ignore[attr-defined]
