"""A consumer following the tail leaves the broker's garbage collector idle: a real broker
process, librdkafka producing one message at a time while a librdkafka consumer long-polls
for each, and the collector's own figures from `/metrics` (prometheus-client's
`python_gc_*`).

Why it matters: such a consumer parks one fetch per message. When each parked fetch was
caught in a reference cycle, it stayed in memory with its request, its response and the
connection's callback (~30 objects) until the collector's next pass, which then ran about
every 100 ms of a 5,000 msg/s run, pausing the broker each time."""

from __future__ import annotations

import threading
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from tests.http.scrape import scrape
from tests.support.broker_process import BrokerProcess

MESSAGES = 2_000


def collected(broker: BrokerProcess) -> float:
    """Objects the cycle collector has found unreachable and freed, all generations."""
    samples = scrape(broker.http_url).all("python_gc_objects_collected_total")
    return sum(value for _, value in samples)


def test_following_the_tail_leaves_nothing_for_the_garbage_collector(tmp_path: Path) -> None:
    with BrokerProcess(tmp_path / "data") as broker:
        topic = "tail"
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        consumer = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": "tail-follower",
                "enable.auto.commit": False,
                "topic.metadata.refresh.interval.ms": 60_000,
            }
        )
        # Warm up: the topic, both connections, and the first parked fetch exist before the
        # count starts (creating them is one-off work, not per message).
        producer.produce(topic, value=b"first")
        assert producer.flush(10) == 0
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        first = consumer.poll(10)
        assert first is not None and first.error() is None and first.value() == b"first"

        received: list[bytes | None] = []
        failures: list[str] = []
        done = threading.Event()

        def follow() -> None:
            try:
                while len(received) < MESSAGES:
                    message = consumer.poll(10)
                    if message is None:
                        failures.append(f"nothing after {len(received)} messages")
                        return
                    if message.error() is not None:
                        failures.append(str(message.error()))
                        return
                    received.append(message.value())
            finally:
                done.set()

        before = collected(broker)
        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        for i in range(MESSAGES):  # one message per request, each answering a parked fetch
            producer.produce(topic, value=b"%d" % i)
            assert producer.flush(10) == 0
        assert done.wait(60)
        follower.join(5)
        consumer.close()
        assert failures == []
        assert received == [b"%d" % i for i in range(MESSAGES)]

        # A few hundred objects of background work may show up (metrics, timers); a cycle per
        # parked fetch would be tens of thousands.
        assert collected(broker) - before < MESSAGES / 10
