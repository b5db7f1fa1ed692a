"""A scrape of a broker with 1,000 partitions: correct, and how long it takes, fresh and
right after a restart.

The figures are printed (run with `-s`, or see the captured output); docs/observability.md
records them with those of `benchmarks/scrape_time.py`. The test asserts only correctness,
since timings belong to benchmarks.
"""

from __future__ import annotations

import statistics
import time

from tests.http.conftest import create_topic, produce, unique
from tests.http.scrape import Scrape, parse, request
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


WARMED_UP = "read the oldest-message timestamps of"


def _stamped(scrape: Scrape, topic: str) -> int:
    return len(scrape.all("rafka_partition_oldest_message_timestamp_seconds", topic=topic))


def test_scrape_after_restart_with_1000_partitions(http_broker: BrokerProcess) -> None:
    """At start-up the broker reads every partition's oldest timestamp in the background; a
    scrape meanwhile leaves out the ones not read yet, and once the broker logs that it is
    done, a scrape carries all of them without reading any log itself."""
    topic = unique("restarted")
    create_topic(http_broker.bootstrap, topic, partitions=PARTITIONS)
    sent_at = int(time.time() * 1000) - 5_000
    produce(
        http_broker.bootstrap,
        topic,
        [(p, None, b"v", []) for p in range(PARTITIONS)],
        timestamp_ms=sent_at,
    )
    http_broker.restart()

    at_ready, at_ready_text = _timed_scrape(http_broker.http_url)
    deadline = time.monotonic() + 30
    while WARMED_UP not in http_broker.log():
        assert time.monotonic() < deadline, "no warm-up of oldest timestamps was logged"
        time.sleep(0.05)
    runs = [_timed_scrape(http_broker.http_url) for _ in range(5)]

    first = parse(at_ready_text)
    assert first.value("rafka_partition_log_end_offset", topic=topic, partition="999") == 1
    assert _stamped(first, topic) <= PARTITIONS
    warmed = parse(runs[0][1])
    assert _stamped(warmed, topic) == PARTITIONS
    assert {value for _, value in warmed.all(
        "rafka_partition_oldest_message_timestamp_seconds", topic=topic
    )} == {sent_at / 1000}
    times = [elapsed for elapsed, _ in runs]
    print(
        f"\nafter a restart with {warmed.value('rafka_partitions'):.0f} partitions: scrape at "
        f"readiness "
        f"{at_ready * 1000:.1f} ms ({_stamped(first, topic)} oldest timestamps), after the "
        f"warm-up first {times[0] * 1000:.1f} ms, median {statistics.median(times) * 1000:.1f}"
        f" ms, max {max(times) * 1000:.1f} ms"
    )
