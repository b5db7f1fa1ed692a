"""One log, two doors: gRPC publishes read by kcat and confluent-kafka, Kafka produces read
over gRPC, byte for byte with the same offsets; keyed partitioning and committed offsets agree
between the doors."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from rafka.partitioner import partition_for_key
from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.gen import rafka_pb2_grpc
from tests.grpc.helpers import collect, new_topic, publish
from tests.support.broker_process import BrokerProcess

Api = rafka_pb2_grpc.BrokerServiceStub
EARLIEST = pb.START_POSITION_EARLIEST
needs_kcat = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")


def kafka_consume(broker: BrokerProcess, topic: str, count: int) -> list[object]:
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": new_topic("interop"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[object] = []
    try:
        deadline = 30
        while len(messages) < count and deadline > 0:
            batch = consumer.consume(count - len(messages), timeout=1.0)
            messages.extend(m for m in batch if m.error() is None)
            deadline -= 1
    finally:
        consumer.close()
    assert len(messages) == count
    return messages


Item = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def kafka_produce(broker: BrokerProcess, topic: str, items: list[Item], **config: object) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, **config})
    for key, value, headers in items:
        producer.produce(topic, key=key, value=value, headers=headers or None)
    assert producer.flush(30) == 0


@needs_kcat
def test_grpc_publish_read_by_kcat(api: Api, grpc_broker: BrokerProcess) -> None:
    topic = new_topic()
    results = publish(api, topic, [b"first", b"second", b"third"], key=b"k")
    out = subprocess.run(
        ["kcat", "-b", grpc_broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e",
         "-f", "%k|%s|%o|%p\n"],
        capture_output=True, timeout=60, check=True,
    ).stdout.decode()  # fmt: skip
    assert out.splitlines() == [f"k|{p}|{r.offset}|0" for p, r in
                                zip(["first", "second", "third"], results, strict=True)]


@needs_kcat
def test_kcat_produce_consumed_over_grpc(api: Api, grpc_broker: BrokerProcess) -> None:
    topic = new_topic()
    lines = b"".join(b"key-%d:line %d\n" % (i, i) for i in range(20))
    subprocess.run(
        ["kcat", "-b", grpc_broker.bootstrap, "-P", "-t", topic, "-K", ":", "-p", "0"],
        input=lines, timeout=60, check=True,
    )  # fmt: skip
    got = collect(api, pb.ConsumeRequest(topic=topic, start=EARLIEST), 20)
    assert [(m.key, m.payload, m.offset) for m in got] == [
        (b"key-%d" % i, b"line %d" % i, i) for i in range(20)
    ]


def test_grpc_publish_read_by_confluent_kafka_byte_for_byte(
    api: Api, grpc_broker: BrokerProcess
) -> None:
    topic = new_topic()
    payloads = [bytes(range(256)), b"", bytes(range(255, -1, -1)) * 10]
    results = publish(
        api, topic, payloads, key=b"\x00\xff", headers=[pb.Header(key="h", value=b"\x01\x02")]
    )
    got = kafka_consume(grpc_broker, topic, len(payloads))
    assert [(m.key(), m.value(), m.offset(), m.partition()) for m in got] == [  # type: ignore[attr-defined]
        (b"\x00\xff", p, r.offset, r.partition) for p, r in zip(payloads, results, strict=True)
    ]
    assert got[0].headers() == [("h", b"\x01\x02")]  # type: ignore[attr-defined]


def test_confluent_kafka_produce_consumed_over_grpc_byte_for_byte(
    api: Api, grpc_broker: BrokerProcess
) -> None:
    topic = new_topic()
    items = [(bytes([i]) * 3, bytes(range(i, 256)), [("n", bytes([i]))]) for i in range(0, 256, 8)]
    for compression in ("none", "lz4"):
        kafka_produce(grpc_broker, topic, items, **{"compression.type": compression})  # type: ignore[arg-type]
    got = collect(api, pb.ConsumeRequest(topic=topic, start=EARLIEST), 2 * len(items))
    assert [(m.key, m.payload) for m in got] == [(k, v) for k, v, _ in items] * 2
    assert [m.offset for m in got] == list(range(2 * len(items)))
    assert [(h.key, h.value) for h in got[1].headers] == [("n", bytes([8]))]


def test_keyed_partitions_agree_with_librdkafka_murmur2(
    api: Api, grpc_broker: BrokerProcess
) -> None:
    topic = new_topic()
    api.CreateTopic(pb.CreateTopicRequest(name=topic, partitions=5), timeout=10)
    keys = [f"customer-{i}".encode() for i in range(40)]
    kafka_produce(
        grpc_broker, topic, [(k, b"kafka", []) for k in keys], partitioner="murmur2_random"
    )
    kafka_side = {m.key(): m.partition() for m in kafka_consume(grpc_broker, topic, len(keys))}  # type: ignore[attr-defined]
    grpc_side = api.PublishBatch(
        pb.PublishBatchRequest(messages=[pb.PublishRequest(topic=topic, key=k) for k in keys]),
        timeout=10,
    ).results
    assert {k: r.partition for k, r in zip(keys, grpc_side, strict=True)} == kafka_side
    assert kafka_side == {k: partition_for_key(k, 5) for k in keys}


def test_grpc_offsets_are_kafka_group_offsets(api: Api, grpc_broker: BrokerProcess) -> None:
    topic = new_topic()
    publish(api, topic, [b"x"] * 10)
    api.UpdateOffset(
        pb.UpdateOffsetRequest(consumer_id="shared-id", topic=topic, partition=0, offset=7),
        timeout=10,
    )
    consumer = Consumer({"bootstrap.servers": grpc_broker.bootstrap, "group.id": "shared-id"})
    try:
        (committed,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
    finally:
        consumer.close()
    assert committed.offset == 7
    # And the other way: a Kafka commit is where a gRPC consumer of that id starts.
    consumer = Consumer(
        {"bootstrap.servers": grpc_broker.bootstrap, "group.id": "kafka-first",
         "enable.auto.commit": False}
    )  # fmt: skip
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    finally:
        consumer.close()
    got = collect(api, pb.ConsumeRequest(consumer_id="kafka-first", topic=topic), 6)
    assert [m.offset for m in got] == [4, 5, 6, 7, 8, 9]


def test_grpc_consumer_shows_in_rafka_groups_describe(
    api: Api, grpc_broker: BrokerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from rafka.cli.main import main

    topic = new_topic()
    publish(api, topic, [b"x"] * 10)
    api.UpdateOffset(
        pb.UpdateOffsetRequest(consumer_id="described", topic=topic, partition=0, offset=4),
        timeout=10,
    )
    capsys.readouterr()
    argv = ["groups", "--bootstrap-server", grpc_broker.bootstrap, "--json", "describe"]
    assert main([*argv, "described"]) == 0
    described = json.loads(capsys.readouterr().out)
    (row,) = [p for p in described["partitions"] if p["topic"] == topic]
    assert (row["committed"], row["log_end"], row["lag"]) == (4, 10, 6)
