"""Compaction through the broker: `__consumer_offsets` shrinks under the cleaner and a restart
still loads the same offsets and groups (deletions included); user topics created with
cleanup.policy=compact are cleaned by the broker's background pass; keyless records are
refused on compacted topics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rafka.broker import Broker, BrokerSettings
from rafka.broker.groups import (
    OFFSETS_TOPIC,
    CommitRequest,
    GroupCoordinator,
    GroupError,
    GroupSettings,
    ManualTimers,
    OffsetsTopicStore,
    OffsetToCommit,
)
from rafka.broker.groups.store import OFFSETS_TOPIC_CONFIGS
from rafka.log import DAY_MS
from rafka.records import InvalidBatchError, Record, build_batch, decode_batches
from tests.log.helpers import FakeClock

SETTINGS = GroupSettings(offsets_topic_partitions=1, initial_rebalance_delay_ms=0)


def open_broker(data_dir: Path, clock: FakeClock) -> Broker:
    broker = Broker(BrokerSettings(data_dir=data_dir), clock=clock)
    broker.open()
    return broker


def start_groups(broker: Broker, clock: FakeClock) -> GroupCoordinator:
    store = OffsetsTopicStore(broker, SETTINGS)
    store.ensure_topic()
    coordinator = GroupCoordinator(store, SETTINGS, clock)
    coordinator.load()
    coordinator.start(ManualTimers())
    return coordinator


def commit(coordinator: GroupCoordinator, group: str, offsets: dict[int, int]) -> None:
    pending = coordinator.commit_offsets(
        CommitRequest(
            group,
            "",
            None,
            -1,
            tuple(OffsetToCommit("t", p, o, metadata=f"m{o}") for p, o in offsets.items()),
        )
    )

    async def settle() -> dict[tuple[str, int], GroupError | None]:
        return await pending.settle()

    assert set(asyncio.run(settle()).values()) == {None}


def committed(coordinator: GroupCoordinator, group: str) -> dict[int, tuple[int, str]]:
    found = coordinator.fetch_offsets(group, None).offsets
    return {p: (c.offset, c.metadata) for (_, p), c in found.items() if c is not None}


def restart(
    broker: Broker, coordinator: GroupCoordinator, clock: FakeClock
) -> tuple[Broker, GroupCoordinator]:
    coordinator.close()
    asyncio.run(broker.close())
    broker = open_broker(broker.settings.data_dir or Path(), clock)
    return broker, start_groups(broker, clock)


def test_consumer_offsets_shrink_and_a_restart_loads_the_same_offsets(tmp_path: Path) -> None:
    clock = FakeClock()
    broker = open_broker(tmp_path, clock)
    broker.create_topic("t", 4)
    coordinator = start_groups(broker, clock)
    # Small segments so that the commits below fill several (the default rolls at 16 MiB).
    broker.set_topic_configs(OFFSETS_TOPIC, {**OFFSETS_TOPIC_CONFIGS, "segment.bytes": "4096"})
    for i in range(1, 1001):
        commit(coordinator, "busy", {p: i * 10 + p for p in range(4)})
        if i % 100 == 0:
            commit(coordinator, "other", {0: i})
    commit(coordinator, "doomed", {0: 1, 1: 2})
    commit(coordinator, "trimmed", {0: 5, 1: 6})
    assert coordinator.delete_groups(["doomed"]).errors == {("doomed", -1): None}
    error, _ = coordinator.delete_offsets("trimmed", [("t", 1)])
    assert error is None
    log = broker.get_partition(OFFSETS_TOPIC, 0).log
    log.roll()  # everything written so far becomes cleanable
    before = log.size_bytes

    (result,) = broker.cleaner.run_pass([log])
    assert result.cleaned
    after = log.size_bytes
    assert after < before // 20, (before, after)

    expected = {
        "busy": committed(coordinator, "busy"),
        "other": committed(coordinator, "other"),
        "trimmed": committed(coordinator, "trimmed"),
    }
    assert expected["busy"] == {p: (10_000 + p, f"m{10_000 + p}") for p in range(4)}
    assert expected["trimmed"] == {0: (5, "m5")}
    broker, coordinator = restart(broker, coordinator, clock)
    for group, offsets in expected.items():
        assert committed(coordinator, group) == offsets
    assert committed(coordinator, "doomed") == {}
    assert coordinator.describe_group("doomed") is None

    # Once delete.retention.ms has passed, a pass drops the tombstones themselves; the load
    # after another restart is still the same.
    records_before = _record_count(broker)
    clock.advance(DAY_MS + 1)
    (result,) = broker.cleaner.run_pass([broker.get_partition(OFFSETS_TOPIC, 0).log])
    assert result.cleaned and result.records_removed > 0
    assert _record_count(broker) < records_before
    broker, coordinator = restart(broker, coordinator, clock)
    for group, offsets in expected.items():
        assert committed(coordinator, group) == offsets
    assert committed(coordinator, "doomed") == {}
    coordinator.close()
    asyncio.run(broker.close())


def _record_count(broker: Broker) -> int:
    log = broker.get_partition(OFFSETS_TOPIC, 0).log
    data = b"".join(bytes(c) for c in log.read(log.log_start_offset, 1 << 24).chunks)
    return len(decode_batches(data))


def test_the_offsets_topic_rolls_and_compacts_by_default(tmp_path: Path) -> None:
    broker = open_broker(tmp_path, FakeClock())
    start_groups(broker, FakeClock())
    topic = broker.get_topic(OFFSETS_TOPIC)
    assert topic.log_config.compacts
    assert topic.log_config.segment_ms == 60 * 60 * 1000
    assert topic.log_config.segment_bytes == 16 * 1024 * 1024
    asyncio.run(broker.close())


def test_an_older_offsets_topic_gets_the_configs_it_lacks(tmp_path: Path) -> None:
    broker = open_broker(tmp_path, FakeClock())
    broker.create_topic(
        OFFSETS_TOPIC, 1, {"cleanup.policy": "compact", "segment.bytes": "104857600"}, internal=True
    )
    start_groups(broker, FakeClock())
    configs = broker.get_topic(OFFSETS_TOPIC).record.configs
    assert configs["segment.bytes"] == "104857600"  # what it had stays
    assert configs["segment.ms"] == "3600000"
    asyncio.run(broker.close())


def test_a_compacted_user_topic_is_cleaned_by_the_background_pass(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        broker = Broker(BrokerSettings(data_dir=tmp_path, retention_check_ms=10), clock=clock)
        broker.open()
        broker.create_topic("plain", 1, {"segment.bytes": "1024", "retention.ms": "-1"})
        broker.create_topic("table", 1, {"cleanup.policy": "compact", "segment.bytes": "1024"})
        for name in ("plain", "table"):
            partition = broker.get_partition(name, 0)
            for i in range(200):
                partition.append(build_batch([Record(b"k%d" % (i % 5), b"v%d" % i)]))
            partition.log.roll()
            partition.log.set_high_watermark(partition.log.log_end_offset)
        table = broker.get_partition("table", 0).log
        plain = broker.get_partition("plain", 0).log
        plain_size = plain.size_bytes
        broker.start_background_tasks()
        for _ in range(500):  # a bound on the wait, not a timing check
            if table.stats.cleaner_passes:
                break
            await asyncio.sleep(0.01)
        assert table.stats.cleaner_passes >= 1 and table.stats.bytes_removed_by_cleaner > 0
        assert plain.size_bytes == plain_size and plain.stats.cleaner_passes == 0
        await broker.close()

    asyncio.run(scenario())


def test_keyless_records_are_refused_on_compacted_topics(tmp_path: Path) -> None:
    broker = open_broker(tmp_path, FakeClock())
    broker.create_topic("table", 1, {"cleanup.policy": "compact"})
    broker.create_topic("stream", 1)
    keyless = build_batch([Record(None, b"v")])
    with pytest.raises(InvalidBatchError):
        broker.get_partition("table", 0).append(keyless)
    assert broker.get_partition("stream", 0).append(keyless).base_offset == 0
    # Turning compaction on later applies from then on.
    broker.set_topic_configs("stream", {"cleanup.policy": "compact,delete"})
    with pytest.raises(InvalidBatchError):
        broker.get_partition("stream", 0).append(keyless)
    asyncio.run(broker.close())
