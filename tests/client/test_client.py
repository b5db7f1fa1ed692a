"""The Python client library against real brokers: batching and futures, retries across a
broker restart, per-message failures, commit modes, resume by consumer id, reconnecting
streams, multi-broker routing, and the synchronous wrapper."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rafka.client import (
    Admin,
    Consumer,
    Message,
    Producer,
    RafkaError,
    SyncConsumer,
    SyncProducer,
)
from rafka.partitioner import partition_for_key
from tests.grpc.helpers import new_topic, start_broker
from tests.support.broker_process import BrokerProcess, free_port


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = start_broker(tmp_path_factory.mktemp("client") / "data")
    try:
        yield process
    finally:
        process.stop()


async def take(
    consumer: Consumer, topic: str | None, count: int, timeout: float = 10
) -> list[Message]:
    got: list[Message] = []

    async def run() -> None:
        async for message in consumer.consume(topic):
            got.append(message)
            if len(got) == count:
                return

    await asyncio.wait_for(run(), timeout)
    return got


def test_producer_batches_and_resolves_futures(node: BrokerProcess) -> None:
    topic = new_topic()

    async def scenario() -> None:
        async with Producer(node.grpc_target, linger_ms=20, batch_size=100) as producer:
            futures = [await producer.publish(topic, f"m{i}", key=f"k{i % 3}") for i in range(250)]
            await producer.flush()
            deliveries = [f.result() for f in futures]
        assert [d.offset for d in deliveries] == list(range(250))
        assert deliveries[0].message_id == f"{topic}/0/0"
        async with Consumer(node.grpc_target, start="earliest") as consumer:
            got = await take(consumer, topic, 250)
        assert [m.payload for m in got] == [f"m{i}".encode() for i in range(250)]
        assert got[4].key == b"k1"

    asyncio.run(scenario())


def test_bad_messages_fail_alone(node: BrokerProcess) -> None:
    topic = new_topic()

    async def scenario() -> None:
        async with Producer(node.grpc_target, linger_ms=50) as producer:
            good = await producer.publish(topic, b"good-1")
            bad = await producer.publish("no spaces allowed", b"bad")
            good_too = await producer.publish(topic, b"good-2")
            await producer.flush()
            assert (good.result().offset, good_too.result().offset) == (0, 1)
            error = bad.exception()
            assert isinstance(error, RafkaError) and error.code.name == "INVALID_ARGUMENT"
            assert "no spaces allowed" in error.message

    asyncio.run(scenario())


def test_commit_modes_and_resume_by_consumer_id(node: BrokerProcess) -> None:
    topic = new_topic()

    async def scenario() -> None:
        async with Producer(node.grpc_target) as producer:
            for i in range(10):
                await producer.publish(topic, f"m{i}")
        # batch mode: what was handed out is committed; the same id resumes after it.
        async with Consumer(node.grpc_target, "resumer") as consumer:
            await consumer.subscribe(topic)
            first = await take(consumer, None, 4)
        async with Consumer(node.grpc_target, "resumer") as consumer:
            rest = await take(consumer, topic, 6)
        assert [m.offset for m in first + rest] == list(range(10))
        # manual mode: nothing is committed unless acknowledged.
        async with Consumer(node.grpc_target, "manual", commit="manual") as consumer:
            got = await take(consumer, topic, 3)
            assert await consumer.acknowledge(got[1]) == 2
        async with Consumer(node.grpc_target, "manual", commit="manual") as consumer:
            again = await take(consumer, topic, 1)
        assert again[0].offset == 2
        async with Admin(node.grpc_target) as admin:
            lags = {(c.group, c.lag) for c in (await admin.metrics()).consumer_offsets}
        assert ("resumer", 0) in lags and ("manual", 8) in lags

    asyncio.run(scenario())


def test_retries_and_reconnects_across_a_broker_restart(tmp_path: Path) -> None:
    process = start_broker(tmp_path / "data")
    topic = new_topic()
    try:

        async def scenario() -> None:
            async with (
                Producer(process.grpc_target, retries=20) as producer,
                Consumer(process.grpc_target, "follower", start="earliest") as consumer,
            ):
                await producer.publish_and_wait(topic, b"before")
                got: list[Message] = []

                async def follow() -> None:
                    async for message in consumer.consume(topic):
                        got.append(message)
                        if len(got) == 3:
                            return

                follower = asyncio.create_task(follow())
                await asyncio.sleep(0.5)
                await asyncio.to_thread(process.restart)
                # Published while the broker comes back: retried until it is there.
                after = await producer.publish(topic, b"after-1")
                await producer.publish(topic, b"after-2")
                await producer.flush()
                assert after.result().offset == 1
                await asyncio.wait_for(follower, 20)
                assert [m.payload for m in got] == [b"before", b"after-1", b"after-2"]

        asyncio.run(scenario())
    finally:
        process.stop()


def test_retry_on_unavailable_while_the_broker_is_down(tmp_path: Path) -> None:
    process = start_broker(tmp_path / "data")
    topic = new_topic()
    try:

        async def scenario() -> None:
            async with Producer(process.grpc_target, retries=30) as producer:
                await producer.publish_and_wait(topic, b"one")
                await asyncio.to_thread(process.stop)
                pending = await producer.publish(topic, b"two")
                await asyncio.sleep(1.0)
                assert not pending.done()
                await asyncio.to_thread(process.start)
                assert (await asyncio.wait_for(pending, 30)).offset == 1

        asyncio.run(scenario())
    finally:
        process.stop()


def test_multi_broker_routing(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    brokers = []
    for i in range(3):
        args = ["--partition", str(i), "--total-partitions", "3", "--peers", peers]
        brokers.append(start_broker(tmp_path / f"b{i}", *args, grpc_port=ports[i]))
    try:

        async def scenario() -> None:
            topic = new_topic()
            keys = [f"user-{i}" for i in range(30)]
            async with Producer(peers) as producer:
                futures = [await producer.publish(topic, k.upper(), key=k) for k in keys]
                await producer.flush()
            for key, future in zip(keys, futures, strict=True):
                assert future.result().partition == partition_for_key(key.encode(), 3)
            # Each broker stores only its own partition.
            for i, port in enumerate(ports):
                async with Admin(f"127.0.0.1:{port}") as admin:
                    stored = {
                        p.partition: p.messages
                        for p in (await admin.metrics()).partitions
                        if p.topic == topic
                    }
                expected = sum(1 for k in keys if partition_for_key(k.encode(), 3) == i)
                assert stored.get(i, 0) == expected
                assert all(n == 0 for p, n in stored.items() if p != i)
            # A consumer given only one address still reads every broker's partition.
            async with Consumer(f"127.0.0.1:{ports[0]}", "everyone", start="earliest") as c:
                got = await take(c, topic, 30)
            assert sorted(m.key or b"" for m in got) == sorted(k.encode() for k in keys)

        asyncio.run(scenario())
    finally:
        for broker in brokers:
            broker.stop()


def test_sync_wrapper(node: BrokerProcess) -> None:
    topic = new_topic()
    with SyncProducer(node.grpc_target) as producer:
        delivery = producer.publish(topic, "hello", key="k")
        future = producer.publish_nowait(topic, b"world")
        producer.flush()
        assert (delivery.offset, future.result(10).offset) == (0, 1)
    with SyncConsumer(node.grpc_target, "sync-reader") as consumer:
        consumer.subscribe(topic)
        got = list(consumer.consume(max_messages=5, timeout_s=1.0))
    assert [m.payload for m in got] == [b"hello", b"world"]
    with SyncConsumer(node.grpc_target, "sync-reader") as consumer:
        started = time.monotonic()
        assert list(consumer.consume(topic, timeout_s=0.5)) == []
        assert time.monotonic() - started < 5
    assert threading.active_count() < 50
