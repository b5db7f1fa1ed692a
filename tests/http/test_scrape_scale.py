"""A scrape of a broker with 1,000 partitions: correct, and how long it takes.

The figure is printed (run with `-s`, or see the captured output) and recorded in
docs/observability.md; the test asserts only correctness, since timings belong to benchmarks.
"""

from __future__ import annotations

import statistics
import time

from tests.http.conftest import create_topic, produce, unique
from tests.http.scrape import parse, request
from tests.support.broker_process import BrokerProcess

PARTITIONS = 1000


def _timed_scrape(url: str) -> tuple[float, str]:
    started = time.perf_counter()
    reply = request(url + "/metrics")
    elapsed = time.perf_counter() - started
    assert reply.status == 200
    return elapsed, reply.body.decode()


def test_scrape_with_1000_partitions(http_broker: BrokerProcess) -> None:
    topic = unique("wide")
    create_topic(http_broker.bootstrap, topic, partitions=PARTITIONS)
    produce(http_broker.bootstrap, topic, [(p, None, b"v", []) for p in range(PARTITIONS)])

    # Let the broker's periodic flush of the 1,000 fresh partitions (flush.ms) pass first: it
    # is broker load, not scrape cost.
    time.sleep(2)
    # The first scrape reads each partition's oldest batch (loading its indexes), within a
    # read budget: timestamps it had no time for follow in the next scrapes.
    cold, cold_text = _timed_scrape(http_broker.http_url)
    warm_runs = [_timed_scrape(http_broker.http_url) for _ in range(6)]
    warm = [elapsed for elapsed, _ in warm_runs[1:]]
    text = warm_runs[-1][1]

    first = parse(cold_text).all("rafka_partition_oldest_message_timestamp_seconds", topic=topic)
    assert 0 < len(first) <= PARTITIONS
    scrape = parse(text)
    ends = scrape.all("rafka_partition_log_end_offset", topic=topic)
    assert len(ends) == PARTITIONS
    assert all(value == 1 for _, value in ends)
    oldest = scrape.all("rafka_partition_oldest_message_timestamp_seconds", topic=topic)
    assert len(oldest) == PARTITIONS
    assert scrape.value("rafka_topic_messages_in_total", topic=topic) == PARTITIONS
    assert scrape.value("rafka_partitions") >= PARTITIONS
    print(
        f"\nscrape of {scrape.value('rafka_partitions'):.0f} partitions over HTTP: "
        f"first {cold * 1000:.1f} ms ({len(first)} oldest timestamps read), "
        f"then median {statistics.median(warm) * 1000:.1f} ms, max {max(warm) * 1000:.1f} ms "
        f"({len(text) // 1024} KiB)"
    )
