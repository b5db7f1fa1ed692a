"""Fixtures for the HTTP tests: a broker process with its HTTP port, and Kafka helpers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.broker_process import BrokerProcess

# Groups start at once instead of waiting 3 s for more members (group.initial.rebalance.delay).
FAST_GROUPS = ("--set", "groups.initial_rebalance_delay_ms=0")


@pytest.fixture(scope="module")
def http_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    with BrokerProcess(tmp_path_factory.mktemp("http") / "data", *FAST_GROUPS) as process:
        yield process


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(
    bootstrap: str, name: str, partitions: int = 1, configs: dict[str, str] | None = None
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=configs or {})]
    )
    futures[name].result(timeout=30)


def produce(
    bootstrap: str,
    topic: str,
    messages: list[tuple[int, bytes | None, bytes, list[tuple[str, bytes]]]],
    timestamp_ms: int | None = None,
) -> None:
    """(partition, key, value, headers) each; one flush at the end."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for partition, key, value, headers in messages:
        kwargs = {"timestamp": timestamp_ms} if timestamp_ms is not None else {}
        producer.produce(topic, value=value, key=key, partition=partition, headers=headers,
                         **kwargs)
    assert producer.flush(30) == 0


def consume_all(bootstrap: str, topic: str, group: str, expected: int) -> int:
    """Consume `expected` messages with a group, commit synchronously, close (leaving)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 30
    while got < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got += 1
    consumer.commit(asynchronous=False)
    consumer.close()
    return got
