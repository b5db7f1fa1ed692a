"""Consumer groups with the other clients: aiokafka, kafka-python, kcat's balanced consumer
(-G) and kafkajs, plus the `rafka groups` tool reading lag from a live group."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.test_groups_confluent import (
    BROKER_ARGS,
    committed,
    create_topic,
    end_offsets,
    names,
    produce,
    wait_until_committed,
)
from tests.support.broker_process import BrokerProcess

pytestmark = pytest.mark.slow
JS_DIR = Path(__file__).parent / "js"


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    with BrokerProcess(tmp_path_factory.mktemp("clients") / "data", *BROKER_ARGS) as process:
        yield process


def test_two_aiokafka_consumers_share_a_topic_and_commit(kafka: BrokerProcess) -> None:
    from aiokafka import AIOKafkaConsumer

    topic, group = names("aio")
    partitions = create_topic(kafka, topic, 4)
    values = [f"aio-{i}" for i in range(200)]
    produce(kafka, topic, values)

    async def scenario() -> tuple[list[str], list[set[tuple[str, int]]]]:
        consumers = [
            AIOKafkaConsumer(
                topic,
                bootstrap_servers=kafka.bootstrap,
                group_id=group,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                session_timeout_ms=10_000,
                heartbeat_interval_ms=500,
            )
            for _ in range(2)
        ]
        for consumer in consumers:
            await consumer.start()
        read: list[str] = []
        try:
            deadline = time.monotonic() + 45
            # Keep both polling until both hold partitions and everything was read.
            while time.monotonic() < deadline and (
                len(read) < len(values) or not all(c.assignment() for c in consumers)
            ):
                for consumer in consumers:
                    batches = await consumer.getmany(timeout_ms=100)
                    for messages in batches.values():
                        read.extend(m.value.decode() for m in messages)
                    if batches:
                        await consumer.commit()
            owned = [{(tp.topic, tp.partition) for tp in c.assignment()} for c in consumers]
        finally:
            for consumer in consumers:
                await consumer.stop()
        return read, owned

    read, owned = asyncio.run(scenario())
    assert sorted(read) == sorted(values)
    assert owned[0] and owned[1] and owned[0] | owned[1] == partitions and not owned[0] & owned[1]
    assert sum(committed(kafka, group).values()) == len(values)


def test_kafka_python_consumers_share_a_topic_and_resume_from_commits(
    kafka: BrokerProcess,
) -> None:
    from kafka import KafkaConsumer

    topic, group = names("kpy")
    partitions = create_topic(kafka, topic, 4)
    values = [f"kpy-{i}" for i in range(200)]
    produce(kafka, topic, values)

    def consumer() -> KafkaConsumer:
        return KafkaConsumer(
            topic,
            bootstrap_servers=kafka.bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            heartbeat_interval_ms=500,
        )

    pair = [consumer(), consumer()]
    read: list[str] = []
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and (
            len(read) < len(values) or not all(c.assignment() for c in pair)
        ):
            for member in pair:
                for messages in member.poll(timeout_ms=100).values():
                    read.extend(m.value.decode() for m in messages)
                    member.commit()
        owned = [{(tp.topic, tp.partition) for tp in c.assignment()} for c in pair]
    finally:
        for member in pair:
            member.close()
    assert sorted(read) == sorted(values)
    assert owned[0] | owned[1] == partitions and not owned[0] & owned[1]

    produce(kafka, topic, ["late"])
    again = consumer()
    try:
        late: list[str] = []
        deadline = time.monotonic() + 30
        while not late and time.monotonic() < deadline:
            for messages in again.poll(timeout_ms=200).values():
                late.extend(m.value.decode() for m in messages)
    finally:
        again.close()
    assert late == ["late"]  # it resumed at the committed offsets


def kcat_group(broker: BrokerProcess, group: str, topic: str, count: int) -> list[str]:
    result = subprocess.run(
        ["kcat", "-b", broker.bootstrap, "-G", group, topic, "-c", str(count),
         "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
         "-f", "%p %o %s\n", "-q"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.splitlines()


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")
def test_kcat_balanced_consumer_reads_then_resumes_after_its_commits(
    kafka: BrokerProcess,
) -> None:
    topic, group = names("kcat")
    partitions = create_topic(kafka, topic, 3)
    produce(kafka, topic, [f"k-{i}" for i in range(30)])
    lines = kcat_group(kafka, group, topic, 30)
    assert sorted(line.split(" ", 2)[2] for line in lines) == sorted(f"k-{i}" for i in range(30))
    wait_until_committed(kafka, group, end_offsets(kafka, partitions), timeout=15)
    produce(kafka, topic, ["more-1", "more-2"])
    again = kcat_group(kafka, group, topic, 2)
    assert sorted(line.split(" ", 2)[2] for line in again) == ["more-1", "more-2"]


@pytest.mark.skipif(
    shutil.which("node") is None or not (JS_DIR / "node_modules" / "kafkajs").is_dir(),
    reason="node or kafkajs is not installed",
)
def test_kafkajs_consumer_group_round_trip(kafka: BrokerProcess) -> None:
    topic = f"kafkajs-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        ["node", str(JS_DIR / "roundtrip.js"), kafka.bootstrap, topic, "50"],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = [json.loads(line) for line in result.stdout.splitlines()]
    assert [int(m["offset"]) for m in seen] == list(range(50))
    assert [(m["key"], m["value"], m["n"]) for m in seen] == [
        (f"k{i}", f"kafkajs message {i}", str(i)) for i in range(50)
    ]
    assert committed(kafka, f"g-{topic}") == {(topic, 0): 50}  # committed as it disconnected


def rafka_groups(broker: BrokerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rafka", "groups", "--bootstrap-server", broker.bootstrap, *args],
        capture_output=True, text=True, timeout=30, env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip


def test_rafka_groups_lists_and_describes_members_offsets_and_lag(kafka: BrokerProcess) -> None:
    from confluent_kafka import Consumer, TopicPartition

    topic, group = names("cli")
    create_topic(kafka, topic, 2)
    produce(kafka, topic, [f"c-{i}" for i in range(20)])
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": group, "client.id": "cli-test",
         "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )  # fmt: skip
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while len(consumer.assignment()) < 2 and time.monotonic() < deadline:
            consumer.poll(0.2)
        consumer.commit(
            offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 0)], asynchronous=False
        )
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p))[1] for p in (0, 1)}

        listed = rafka_groups(kafka, "list")
        assert listed.returncode == 0, listed.stderr
        assert any(line.split()[:2] == [group, "Stable"] for line in listed.stdout.splitlines())

        table = rafka_groups(kafka, "describe", group)
        assert table.returncode == 0, table.stderr
        assert f"total lag {ends[0] - 3 + ends[1]}" in table.stdout
        assert "cli-test" in table.stdout

        described = json.loads(rafka_groups(kafka, "--json", "describe", group).stdout)
        assert described["state"] == "Stable" and described["protocol"] == "range"
        (member,) = described["members"]
        assert member["client_id"] == "cli-test"
        assert sorted(map(tuple, member["partitions"])) == [(topic, 0), (topic, 1)]
        rows = {row["partition"]: row for row in described["partitions"]}
        assert (rows[0]["committed"], rows[0]["log_end"], rows[0]["lag"]) == (
            3,
            ends[0],
            ends[0] - 3,
        )
        assert rows[1]["lag"] == ends[1]
        assert rows[0]["member_id"] == member["member_id"]
    finally:
        consumer.close()

    missing = rafka_groups(kafka, "describe", "no-such-group")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
