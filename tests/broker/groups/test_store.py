"""The `__consumer_offsets` records and the store on a real broker: Kafka's byte layouts,
placement, durable writes, and reloading after a restart (last value per key wins)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rafka.broker import Broker, BrokerSettings
from rafka.broker.groups import (
    OFFSETS_TOPIC,
    CommitRequest,
    CommittedOffset,
    GroupCoordinator,
    GroupError,
    GroupSettings,
    ManualTimers,
    OffsetsTopicStore,
    OffsetToCommit,
    codec,
)
from rafka.broker.groups.store import java_string_hash, partition_for_group
from rafka.log import LogConfig


def test_offset_records_use_kafkas_layout() -> None:
    key = codec.encode_offset_key("g", "topic", 3)
    assert key == b"\x00\x01" + b"\x00\x01g" + b"\x00\x05topic" + b"\x00\x00\x00\x03"
    value = codec.encode_offset_value(CommittedOffset(42, 5, "meta", 1_700_000_000_000))
    assert value[:2] == b"\x00\x03"
    assert codec.decode_key(key) == codec.OffsetKey("g", "topic", 3)
    assert codec.decode_offset_value(value) == CommittedOffset(42, 5, "meta", 1_700_000_000_000)


def test_older_offset_value_versions_are_read() -> None:
    v1 = b"\x00\x01" + (7).to_bytes(8, "big") + b"\x00\x02hi" + (5).to_bytes(8, "big") * 2
    assert codec.decode_offset_value(v1) == CommittedOffset(7, -1, "hi", 5, 5)
    v0 = b"\x00\x00" + (7).to_bytes(8, "big") + b"\xff\xff" + (5).to_bytes(8, "big")
    assert codec.decode_offset_value(v0) == CommittedOffset(7, -1, "", 5)
    with pytest.raises(codec.RecordFormatError):
        codec.decode_offset_value(b"\x00\x09")
    with pytest.raises(codec.RecordFormatError):
        codec.decode_key(b"\x00\x01\x00\x05ab")


def test_group_metadata_round_trips() -> None:
    member = codec.StoredMember("m-1", "inst", "client", "/127.0.0.1", 300_000, 10_000, b"s", b"a")
    group = codec.StoredGroup("consumer", 4, "range", "m-1", 123, (member,))
    assert codec.decode_group_value(codec.encode_group_value(group)) == group
    assert codec.decode_key(codec.encode_group_key("g")) == codec.GroupKey("g")


def test_groups_are_placed_like_kafka_places_them() -> None:
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)  # Java's famous MIN_VALUE hash
    assert partition_for_group("polygenelubricants", 50) == 0
    assert partition_for_group("hello", 50) == 99162322 % 50


@pytest.fixture(params=["disk", "in_memory"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Broker:
    engine = request.param
    settings = BrokerSettings(data_dir=tmp_path if engine == "disk" else None, engine=engine)
    broker = Broker(settings)
    broker.open()
    broker.create_topic("t", 2)
    return broker


def start(broker: Broker, timers: ManualTimers) -> GroupCoordinator:
    settings = GroupSettings(offsets_topic_partitions=3)
    store = OffsetsTopicStore(broker, settings)
    store.ensure_topic()
    coordinator = GroupCoordinator(store, settings, timers.clock)
    coordinator.load()
    coordinator.start(timers)
    return coordinator


def commit(coordinator: GroupCoordinator, group: str, offset: int) -> GroupError | None:
    pending = coordinator.commit_offsets(
        CommitRequest(group, "", None, -1, (OffsetToCommit("t", 1, offset, metadata="m"),))
    )

    async def settle() -> GroupError | None:
        return (await pending.settle())[("t", 1)]

    return asyncio.run(settle())


def test_commits_land_in_the_groups_partition_and_survive_a_restart(
    broker: Broker, tmp_path: Path
) -> None:
    timers = ManualTimers()
    coordinator = start(broker, timers)
    topic = broker.get_topic(OFFSETS_TOPIC)
    assert topic.record.internal and topic.log_config.cleanup_policy == "compact"
    assert len(topic.partitions) == 3
    for offset in (1, 2, 3):
        assert commit(coordinator, "g", offset) is None
    assert commit(coordinator, "h", 9) is None
    home = topic.partitions[partition_for_group("g", 3)]
    assert home.log.log_end_offset >= 3
    coordinator.close()
    if broker.settings.engine == "disk":
        asyncio.run(broker.close())
        broker = Broker(broker.settings)
        broker.open()
        assert broker.get_topic(OFFSETS_TOPIC).record.internal
    again = start(broker, ManualTimers())
    found = again.fetch_offsets("g", None).offsets[("t", 1)]
    assert found is not None and (found.offset, found.metadata) == (3, "m")
    assert again.fetch_offsets("h", [("t", 1)]).offsets[("t", 1)] is not None


def test_commits_wait_for_the_fsync_when_the_offsets_topic_says_so(broker: Broker) -> None:
    coordinator = start(broker, ManualTimers())
    broker.set_topic_configs(OFFSETS_TOPIC, {"cleanup.policy": "compact", "flush.messages": "1"})
    pending = coordinator.commit_offsets(
        CommitRequest("g", "", None, -1, (OffsetToCommit("t", 0, 5),))
    )
    assert pending.durable is not None

    async def settle() -> dict[tuple[str, int], GroupError | None]:
        return await pending.settle()

    assert asyncio.run(settle()) == {("t", 0): None}


def test_a_commit_too_large_for_the_offsets_topic_is_refused(broker: Broker) -> None:
    coordinator = start(broker, ManualTimers())
    broker.set_topic_configs(
        OFFSETS_TOPIC, {"cleanup.policy": "compact", "max.message.bytes": "200"}
    )
    offsets = tuple(OffsetToCommit("t", p % 2, 1, metadata="x" * 100) for p in range(2))
    pending = coordinator.commit_offsets(CommitRequest("g", "", None, -1, offsets))
    assert set(pending.errors.values()) == {GroupError.INVALID_COMMIT_OFFSET_SIZE}
    assert coordinator.fetch_offsets("g", None).offsets == {}
    assert LogConfig().max_message_bytes > 200
