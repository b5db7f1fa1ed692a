"""Log compaction seen from librdkafka (confluent-kafka) on a real broker process: a topic
created compacted through the AdminClient is cleaned by the broker's background pass, and
`__consumer_offsets` shrinks while the committed offsets survive a restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from tests.support.broker_process import BrokerProcess

pytestmark = pytest.mark.slow
# The cleaner runs on the retention timer; make it frequent.
COUNT = 1000
BROKER_ARGS = (
    "--set",
    "broker.retention_check_ms=200",
    "--set",
    "groups.offsets_topic_partitions=1",
)


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[BrokerProcess]:
    with BrokerProcess(tmp_path / "data", *BROKER_ARGS) as process:
        yield process


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll until `condition` holds; the timeout only bounds the wait."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def log_files(kafka: BrokerProcess, topic: str) -> list[Path]:
    return sorted((kafka.data_dir / f"{topic}-0").glob("*.log"))


def closed_segments_compacted(kafka: BrokerProcess, topic: str, limit: int) -> bool:
    """The segments below the active one (there are some) hold fewer than `limit` bytes.
    The broker cleans in the background, possibly while the test is still writing, so this
    looks at the end state rather than comparing with a size measured earlier."""
    files = log_files(kafka, topic)
    return len(files) >= 2 and sum(path.stat().st_size for path in files[:-1]) < limit


def read_from_beginning(kafka: BrokerProcess, topic: str, end: int) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    messages: list[Message] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            messages.append(message)
            if message.offset() == end - 1:
                break
    finally:
        consumer.close()
    return messages


def test_a_topic_created_compacted_is_cleaned_and_read_back_latest_per_key(
    kafka: BrokerProcess,
) -> None:
    topic = f"table-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    config = {"cleanup.policy": "compact", "segment.bytes": "8192"}
    admin.create_topics([NewTopic(topic, num_partitions=1, config=config)])[topic].result(15)
    # Batches well below segment.bytes (one append must fit in one segment).
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "batch.size": 2000})
    latest: dict[bytes, tuple[int, bytes]] = {}
    delivered: list[tuple[bytes, int, bytes]] = []

    def record(err: KafkaError | None, message: Message) -> None:
        assert err is None, err
        delivered.append((message.key(), message.offset(), message.value()))

    for i in range(COUNT):
        producer.produce(topic, key=b"k%d" % (i % 10), value=b"v%d" % i, on_delivery=record)
        producer.poll(0)
    assert producer.flush(30) == 0
    for key, offset, value in delivered:
        latest[key] = max(latest.get(key, (-1, b"")), (offset, value))
    # 10 keys: their latest values take a few hundred bytes, the closed segments ~8 KiB.
    wait_for(
        lambda: closed_segments_compacted(kafka, topic, 2048),
        "the broker's cleaner to compact the topic",
    )
    active_base = int(log_files(kafka, topic)[-1].name.split(".")[0])
    messages = read_from_beginning(kafka, topic, COUNT)
    assert messages[-1].offset() == COUNT - 1
    closed = [(m.key(), m.offset(), m.value()) for m in messages if m.offset() < active_base]
    active = [(m.key(), m.offset(), m.value()) for m in messages if m.offset() >= active_base]
    # Below the active segment: one record per key, each the latest the closed part held.
    keys = [key for key, _, _ in closed]
    assert len(keys) == len(set(keys))
    closed_latest: dict[bytes, tuple[int, bytes]] = {}
    for key, offset, value in delivered:
        if offset < active_base:
            closed_latest[key] = max(closed_latest.get(key, (-1, b"")), (offset, value))
    assert {key: (o, v) for key, o, v in closed} == closed_latest
    # The active segment is served as it was written.
    assert active == sorted(
        ((k, o, v) for k, o, v in delivered if o >= active_base), key=lambda e: e[1]
    )
    seen: dict[bytes, tuple[int, bytes]] = {}
    for key, offset, value in closed + active:
        seen[key] = (offset, value)
    assert seen == latest

    # A record without a key is refused, as Kafka refuses it on a compacted topic.
    errors: list[KafkaError] = []
    producer.produce(topic, value=b"no key", on_delivery=lambda err, _m: errors.append(err))
    producer.flush(30)
    assert errors and errors[0] is not None and errors[0].name() == "INVALID_RECORD"


def test_consumer_offsets_shrink_and_commits_survive_a_restart(kafka: BrokerProcess) -> None:
    topic = f"events-{uuid.uuid4().hex[:8]}"
    group = f"busy-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2)])[topic].result(15)
    # Small segments, so a couple of thousand commits roll several (the default is 16 MiB).
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        "__consumer_offsets",
        incremental_configs=[
            ConfigEntry("segment.bytes", "8192", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin.incremental_alter_configs([resource])[resource].result(15)
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        for i in range(1, 2001):
            consumer.commit(
                offsets=[TopicPartition(topic, 0, i), TopicPartition(topic, 1, 2 * i)],
                asynchronous=False,
            )
    finally:
        consumer.close()
    # 2000 commits took ~250 KiB; the two latest offsets take a few hundred bytes.
    wait_for(
        lambda: closed_segments_compacted(kafka, "__consumer_offsets", 2048),
        "the broker's cleaner to compact __consumer_offsets",
    )
    kafka.restart()
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        found = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=15)
    finally:
        consumer.close()
    assert [(tp.partition, tp.offset) for tp in found] == [(0, 2000), (1, 4000)]
