"""Consumer groups with librdkafka (confluent-kafka), each consumer in its own process: sharing
partitions, members leaving, dying and joining, cooperative rebalancing, static membership,
and committed offsets surviving a broker restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.broker_process import BrokerProcess
from tests.support.group_consumer import GroupConsumer, Partition, wait_for_balance

pytestmark = pytest.mark.slow
# A short first-rebalance delay: consumers of a test start about a second apart.
BROKER_ARGS = ("--set", "groups.initial_rebalance_delay_ms=1000")


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    with BrokerProcess(tmp_path_factory.mktemp("groups") / "data", *BROKER_ARGS) as process:
        yield process


def names(prefix: str) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"{prefix}-{suffix}", f"group-{prefix}-{suffix}"


def create_topic(broker: BrokerProcess, topic: str, partitions: int) -> set[Partition]:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions)])[topic].result(timeout=15)
    return {(topic, p) for p in range(partitions)}


def produce(broker: BrokerProcess, topic: str, values: list[str]) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for value in values:
        producer.produce(topic, key=value.encode(), value=value.encode())
    assert producer.flush(30) == 0


def read_values(consumers: list[GroupConsumer]) -> list[str]:
    return sorted(v for c in consumers for _, _, v in c.messages)


def wait_until_read(consumers: list[GroupConsumer], count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(len(c.messages) for c in consumers) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"read {sum(len(c.messages) for c in consumers)} of {count}")
        time.sleep(0.05)


def committed(broker: BrokerProcess, group: str) -> dict[Partition, int]:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    return {
        (tp.topic, tp.partition): tp.offset for tp in future.result(timeout=15).topic_partitions
    }


def wait_until_committed(
    broker: BrokerProcess, group: str, expected: dict[Partition, int], timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while (found := committed(broker, group)) != expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"committed {found}, expected {expected}")
        time.sleep(0.2)


def end_offsets(broker: BrokerProcess, partitions: set[Partition]) -> dict[Partition, int]:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "watermarks"})
    try:
        return {
            (t, p): consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
            for t, p in partitions
        }
    finally:
        consumer.close()


def batch(label: str, count: int) -> list[str]:
    return [f"{label}-{i}" for i in range(count)]


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_three_consumers_share_six_partitions_and_read_every_message_once(
    kafka: BrokerProcess, strategy: str
) -> None:
    topic, group = names("share")
    partitions = create_topic(kafka, topic, 6)
    consumers = [
        GroupConsumer(kafka.bootstrap, group, topic, **{"partition.assignment.strategy": strategy})
        for _ in range(3)
    ]
    try:
        wait_for_balance(consumers, partitions)
        assert sorted(len(c.owned) for c in consumers) == [2, 2, 2]
        values = batch("m", 600)
        produce(kafka, topic, values)
        wait_until_read(consumers, len(values))
        for consumer in consumers:  # each read only what it owns
            assert {(topic, p) for p, _, _ in consumer.messages} <= consumer.owned
        wait_until_committed(kafka, group, end_offsets(kafka, partitions))
        assert read_values(consumers) == sorted(values)  # no duplicates, nothing missing

        admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
        described = admin.describe_consumer_groups([group])[group].result(timeout=15)
        assert len(described.members) == 3
        assert described.partition_assignor == strategy
        assigned = [
            (tp.topic, tp.partition)
            for m in described.members
            for tp in m.assignment.topic_partitions
        ]
        assert sorted(assigned) == sorted(partitions)
    finally:
        for consumer in consumers:
            consumer.close()


def test_a_member_that_leaves_hands_its_partitions_to_the_others(kafka: BrokerProcess) -> None:
    topic, group = names("leave")
    partitions = create_topic(kafka, topic, 6)
    consumers = [GroupConsumer(kafka.bootstrap, group, topic) for _ in range(3)]
    try:
        wait_for_balance(consumers, partitions)
        produce(kafka, topic, batch("before", 300))
        wait_until_read(consumers, 300)
        wait_until_committed(kafka, group, end_offsets(kafka, partitions))
        leaving, staying = consumers[0], consumers[1:]
        leaving.close()
        wait_for_balance(staying, partitions)
        produce(kafka, topic, batch("after", 300))
        wait_until_read(consumers, 600)
        assert read_values(consumers) == sorted(batch("before", 300) + batch("after", 300))
        assert not any(v.startswith("after") for _, _, v in leaving.messages)
    finally:
        for consumer in consumers:
            consumer.close()


def test_a_killed_member_is_replaced_once_its_session_times_out(kafka: BrokerProcess) -> None:
    topic, group = names("kill")
    partitions = create_topic(kafka, topic, 6)
    consumers = [GroupConsumer(kafka.bootstrap, group, topic) for _ in range(3)]
    try:
        wait_for_balance(consumers, partitions)
        produce(kafka, topic, batch("before", 300))
        wait_until_read(consumers, 300)
        wait_until_committed(kafka, group, end_offsets(kafka, partitions))
        victim, survivors = consumers[0], consumers[1:]
        orphaned = victim.owned
        victim.kill()  # no LeaveGroup: only the 6 s session timeout tells the broker
        wait_for_balance(survivors, partitions)
        assert orphaned <= set().union(*(c.owned for c in survivors))
        produce(kafka, topic, batch("after", 300))
        wait_until_read(consumers, 600)
        assert read_values(consumers) == sorted(batch("before", 300) + batch("after", 300))
    finally:
        for consumer in consumers:
            consumer.kill()


def test_a_new_member_joins_and_takes_a_share(kafka: BrokerProcess) -> None:
    topic, group = names("join")
    partitions = create_topic(kafka, topic, 6)
    consumers = [GroupConsumer(kafka.bootstrap, group, topic) for _ in range(2)]
    try:
        wait_for_balance(consumers, partitions)
        produce(kafka, topic, batch("before", 200))
        wait_until_read(consumers, 200)
        wait_until_committed(kafka, group, end_offsets(kafka, partitions))
        consumers.append(GroupConsumer(kafka.bootstrap, group, topic))
        wait_for_balance(consumers, partitions)
        produce(kafka, topic, batch("after", 200))
        wait_until_read(consumers, 400)
        assert read_values(consumers) == sorted(batch("before", 200) + batch("after", 200))
        assert any(v.startswith("after") for _, _, v in consumers[2].messages)
    finally:
        for consumer in consumers:
            consumer.close()


def test_cooperative_sticky_moves_only_the_partitions_that_change_owner(
    kafka: BrokerProcess,
) -> None:
    topic, group = names("coop")
    partitions = create_topic(kafka, topic, 6)
    config = {"partition.assignment.strategy": "cooperative-sticky"}
    first = [GroupConsumer(kafka.bootstrap, group, topic, **config) for _ in range(2)]
    try:
        wait_for_balance(first, partitions)
        before = [c.owned for c in first]
        produce(kafka, topic, batch("before", 200))
        wait_until_read(first, 200)
        newcomer = GroupConsumer(kafka.bootstrap, group, topic, **config)
        everyone = [*first, newcomer]
        wait_for_balance(everyone, partitions)
        for consumer, owned_before in zip(first, before, strict=True):
            revoked = {
                (t, p)
                for e in consumer.rebalance_events()
                if e["event"] == "revoked"
                for t, p in e["partitions"]
            }
            # Incremental: only what went to the newcomer was taken away, the rest stayed put.
            assert revoked <= newcomer.owned
            assert consumer.owned == owned_before - revoked
        produce(kafka, topic, batch("after", 200))
        wait_until_read(everyone, 400)
        assert read_values(everyone) == sorted(batch("before", 200) + batch("after", 200))
    finally:
        for consumer in first:
            consumer.close()
        newcomer.close()


def test_a_restarted_static_member_gets_its_partitions_back_without_a_rebalance(
    kafka: BrokerProcess,
) -> None:
    topic, group = names("static")
    partitions = create_topic(kafka, topic, 4)
    static = {"session.timeout.ms": 15000}
    a = GroupConsumer(kafka.bootstrap, group, topic, **{"group.instance.id": "a"}, **static)
    b = GroupConsumer(kafka.bootstrap, group, topic, **{"group.instance.id": "b"}, **static)
    restarted: GroupConsumer | None = None
    try:
        wait_for_balance([a, b], partitions)
        owned_by_a = a.owned
        b_history = b.rebalance_events()
        a.close()  # a static member does not leave the group when it closes
        restarted = GroupConsumer(
            kafka.bootstrap, group, topic, **{"group.instance.id": "a"}, **static
        )
        restarted.wait_for(lambda: restarted.owned == owned_by_a, what="assignment back")
        produce(kafka, topic, batch("m", 200))
        wait_until_read([b, restarted], 200)
        assert b.rebalance_events() == b_history  # b never saw a rebalance
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
        described = admin.describe_consumer_groups([group])[group].result(timeout=15)
        assert sorted(m.group_instance_id for m in described.members) == ["a", "b"]
    finally:
        a.close()
        b.close()
        if restarted is not None:
            restarted.close()


def test_committed_offsets_survive_a_broker_restart_and_a_crash(tmp_path: Path) -> None:
    topic, group = names("restart")
    with BrokerProcess(tmp_path / "data", *BROKER_ARGS) as broker:
        create_topic(broker, topic, 1)
        produce(broker, topic, batch("m", 100))
        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        read = 0
        deadline = time.monotonic() + 30
        while read < 40 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                read += 1
        consumer.commit(offsets=[TopicPartition(topic, 0, 40, "at forty")], asynchronous=False)
        consumer.close()

        for restart in (broker.restart, lambda: (broker.kill(), broker.restart())):
            restart()
            found = committed(broker, group)
            assert found == {(topic, 0): 40}
            resumed = Consumer(
                {
                    "bootstrap.servers": broker.bootstrap,
                    "group.id": group,
                    "enable.auto.commit": False,
                }
            )
            (with_metadata,) = resumed.committed([TopicPartition(topic, 0)], timeout=15)
            assert (with_metadata.offset, with_metadata.metadata) == (40, "at forty")
            resumed.subscribe([topic])
            first = None
            deadline = time.monotonic() + 30
            while first is None and time.monotonic() < deadline:
                msg = resumed.poll(0.5)
                if msg is not None and msg.error() is None:
                    first = msg
            resumed.close()
            assert first is not None and first.offset() == 40
            assert first.value() == b"m-40"


def test_a_live_group_carries_on_across_a_broker_restart(tmp_path: Path) -> None:
    topic, group = names("live")
    with BrokerProcess(tmp_path / "data", *BROKER_ARGS) as broker:
        partitions = create_topic(broker, topic, 4)
        consumers = [GroupConsumer(broker.bootstrap, group, topic) for _ in range(2)]
        try:
            wait_for_balance(consumers, partitions)
            produce(broker, topic, batch("before", 100))
            wait_until_read(consumers, 100)
            wait_until_committed(broker, group, end_offsets(broker, partitions))
            broker.restart()  # same port: the consumers reconnect by themselves
            produce(broker, topic, batch("after", 100))
            wait_until_read(consumers, 200, timeout=60)
            wait_for_balance(consumers, partitions)
            assert read_values(consumers) == sorted(batch("before", 100) + batch("after", 100))
        finally:
            for consumer in consumers:
                consumer.close()
