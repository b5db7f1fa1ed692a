"""Topic lifecycle on a real disk-backed Broker: registry, restart, delete removes files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rafka.broker import Broker, BrokerSettings
from rafka.broker.errors import InvalidTopicError, TopicAlreadyExistsError
from rafka.records.builder import Record, build_batch


def one_batch() -> bytes:
    return build_batch([Record(value=b"v", timestamp_ms=1, offset=0)])


def test_topics_survive_restart_and_delete_removes_files(tmp_path: Path) -> None:
    settings = BrokerSettings(data_dir=tmp_path, engine="disk")
    broker = Broker(settings)
    broker.open()
    broker.create_topic("orders", 3, {"retention.ms": "60000"})
    broker.get_partition("orders", 2).append(one_batch())
    with pytest.raises(TopicAlreadyExistsError):
        broker.create_topic("orders", 1)
    with pytest.raises(InvalidTopicError):
        broker.create_topic("bad/name", 1)
    asyncio.run(broker.close())

    reopened = Broker(settings)
    reopened.open()
    topic = reopened.get_topic("orders")
    assert len(topic.partitions) == 3
    assert topic.record.configs == {"retention.ms": "60000"}
    assert reopened.get_partition("orders", 2).log.log_end_offset == 1

    reopened.delete_topic("orders")
    assert not any(tmp_path.glob("orders-*"))
    asyncio.run(reopened.close())

    again = Broker(settings)
    again.open()
    assert "orders" not in again.topics
    asyncio.run(again.close())
