"""aiokafka and kafka-python: produce and consume round trips against a real broker process."""

from __future__ import annotations

import asyncio
import uuid

from tests.support.broker_process import BrokerProcess


def test_aiokafka_round_trip(shared_broker: BrokerProcess) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition

    topic = f"aiokafka-{uuid.uuid4().hex[:8]}"
    values = [b"aio-%d" % i for i in range(200)]

    async def scenario() -> list[tuple[bytes | None, bytes | None]]:
        producer = AIOKafkaProducer(bootstrap_servers=shared_broker.bootstrap)
        await producer.start()
        try:
            for i, value in enumerate(values):
                await producer.send(topic, value, key=b"k%d" % i)
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=shared_broker.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.seek_to_beginning()
            got: list[tuple[bytes | None, bytes | None]] = []
            while len(got) < len(values):
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 20)
                for messages in batch.values():
                    got.extend((m.key, m.value) for m in messages)
            return got
        finally:
            await consumer.stop()

    got = asyncio.run(scenario())
    assert got == [(b"k%d" % i, v) for i, v in enumerate(values)]


def test_kafka_python_round_trip(shared_broker: BrokerProcess) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = f"kafkapy-{uuid.uuid4().hex[:8]}"
    values = [b"kp-%d" % i for i in range(200)]
    producer = KafkaProducer(bootstrap_servers=shared_broker.bootstrap)
    futures = [
        producer.send(topic, value=v, headers=[("n", b"%d" % i)]) for i, v in enumerate(values)
    ]
    producer.flush(30)
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close()
    assert offsets == list(range(len(values)))

    consumer = KafkaConsumer(
        bootstrap_servers=shared_broker.bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    got = [(m.value, m.headers) for _, m in zip(range(len(values)), consumer, strict=False)]
    consumer.close()
    assert got == [(v, [("n", b"%d" % i)]) for i, v in enumerate(values)]
