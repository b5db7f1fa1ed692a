"""`/metrics` scraped from a real broker and parsed with prometheus-client's parser: the figures
match what the test produced and consumed, errors are counted by Kafka error name, and the
Grafana dashboard only uses metrics the broker exports."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from kio.schema.fetch.v12.request import FetchPartition, FetchRequest, FetchTopic
from kio.schema.produce.v9.request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)

from rafka.observability.collector import METRIC_NAMES
from rafka.records.builder import Record, build_batch
from tests.http.conftest import consume_all, create_topic, produce, unique
from tests.http.scrape import scrape
from tests.support.broker_process import BrokerProcess
from tests.support.raw_kafka import RawKafka

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "rafka-dashboard.json"


def test_figures_match_what_was_produced_and_consumed(http_broker: BrokerProcess) -> None:
    topic, group = unique("metrics"), unique("group")
    create_topic(http_broker.bootstrap, topic, partitions=2)
    oldest_ms = int(time.time() * 1000) - 60_000
    messages = [(0, b"k", b"x" * 100, []) for _ in range(30)]
    messages += [(1, None, b"y" * 50, [("h", b"v")]) for _ in range(20)]
    produce(http_broker.bootstrap, topic, messages, timestamp_ms=oldest_ms)

    s = scrape(http_broker.http_url)
    assert s.value("rafka_topic_messages_in_total", topic=topic) == 50
    assert s.value("rafka_topic_messages_stored", topic=topic) == 50
    assert s.value("rafka_partition_log_end_offset", topic=topic, partition="0") == 30
    assert s.value("rafka_partition_log_end_offset", topic=topic, partition="1") == 20
    assert s.value("rafka_partition_high_watermark", topic=topic, partition="0") == 30
    assert s.value("rafka_partition_log_start_offset", topic=topic, partition="1") == 0
    assert s.value("rafka_partition_segments", topic=topic, partition="0") == 1
    sizes = sum(v for _, v in s.all("rafka_partition_size_bytes", topic=topic))
    # Batches are stored as sent: the log holds exactly the bytes producers appended.
    assert sizes == s.value("rafka_topic_bytes_in_total", topic=topic) > 50 * 50
    assert s.value(
        "rafka_partition_oldest_message_timestamp_seconds", topic=topic, partition="0"
    ) == oldest_ms / 1000
    assert s.value("rafka_topic_messages_out_total", topic=topic) == 0

    assert consume_all(http_broker.bootstrap, topic, group, 50) == 50
    s = scrape(http_broker.http_url)
    assert s.value("rafka_topic_messages_out_total", topic=topic) == 50
    assert s.value("rafka_topic_bytes_out_total", topic=topic) == sizes
    assert s.value("rafka_consumer_group_committed_offset", group=group, partition="0") == 30
    assert s.value("rafka_consumer_group_committed_offset", group=group, partition="1") == 20
    assert s.value("rafka_consumer_group_lag", group=group, topic=topic, partition="0") == 0
    assert s.value("rafka_consumer_group_members", group=group) == 0
    assert s.value("rafka_consumer_groups", state="Empty") >= 1

    produce(http_broker.bootstrap, topic, [(0, None, b"more", [])] * 7)
    s = scrape(http_broker.http_url)
    assert s.value("rafka_consumer_group_lag", group=group, topic=topic, partition="0") == 7
    assert s.value("rafka_consumer_group_lag", group=group, topic=topic, partition="1") == 0
    assert s.value("rafka_topic_messages_in_total", topic=topic) == 57


def test_request_counts_and_latency_histograms(http_broker: BrokerProcess) -> None:
    topic = unique("requests")
    before = scrape(http_broker.http_url)
    produce(http_broker.bootstrap, topic, [(0, None, b"v", [])])
    after = scrape(http_broker.http_url)
    produced = after.value("rafka_kafka_requests_total", api="Produce") - before.get(
        "rafka_kafka_requests_total", api="Produce"
    )
    assert produced >= 1
    for labels, count in after.all("rafka_kafka_requests_total"):
        api = labels["api"]
        buckets = after.all("rafka_kafka_request_duration_seconds_bucket", api=api)
        cumulative = [v for _, v in buckets]
        assert cumulative == sorted(cumulative), api
        assert after.value("rafka_kafka_request_duration_seconds_bucket", api=api, le="+Inf") == (
            after.value("rafka_kafka_request_duration_seconds_count", api=api)
        ) == count
        assert after.value("rafka_kafka_request_duration_seconds_sum", api=api) > 0


def _produce_to(raw: RawKafka, topic: str, partition: int) -> int:
    batch = build_batch([Record(key=None, value=b"v", headers=(), timestamp_ms=1, offset=0)])
    response = raw.call(
        0, 9, ProduceRequest(
            transactional_id=None, acks=1, timeout=timedelta(seconds=5),
            topic_data=(TopicProduceData(
                name=topic,
                partition_data=(PartitionProduceData(index=partition, records=batch),),
            ),),
        ),
    )
    return int(response.responses[0].partition_responses[0].error_code)


def _fetch_at(raw: RawKafka, topic: str, offset: int) -> None:
    raw.call(1, 12, FetchRequest(
        cluster_id=None, replica_id=-1, max_wait=timedelta(0), min_bytes=1,
        max_bytes=1_000_000, isolation_level=0, session_id=0, session_epoch=-1,
        topics=(FetchTopic(topic=topic, partitions=(FetchPartition(
            partition=0, current_leader_epoch=-1, fetch_offset=offset, last_fetched_epoch=-1,
            log_start_offset=-1, partition_max_bytes=1_000_000),)),),
        forgotten_topics_data=(), rack_id="",
    ))


def test_errors_are_counted_by_api_and_kafka_error_name(http_broker: BrokerProcess) -> None:
    topic = unique("errors")
    create_topic(http_broker.bootstrap, topic)

    def errors(api: str, error: str) -> float:
        return scrape(http_broker.http_url).get(
            "rafka_kafka_request_errors_total", api=api, error=error
        )

    produce_before = errors("Produce", "unknown_topic_or_partition")
    fetch_before = errors("Fetch", "offset_out_of_range")
    with RawKafka(http_broker.bootstrap) as raw:
        assert _produce_to(raw, topic, 0) == 0
        assert _produce_to(raw, topic, 7) != 0  # the topic has one partition
        assert _produce_to(raw, topic, 9) != 0
        _fetch_at(raw, topic, 1000)
    assert errors("Produce", "unknown_topic_or_partition") == produce_before + 2
    assert errors("Fetch", "offset_out_of_range") == fetch_before + 1


def test_connections_open_and_total(http_broker: BrokerProcess) -> None:
    before = scrape(http_broker.http_url)
    with RawKafka(http_broker.bootstrap), RawKafka(http_broker.bootstrap):
        during = scrape(http_broker.http_url)
        assert during.value("rafka_kafka_connections_open") == before.value(
            "rafka_kafka_connections_open"
        ) + 2
    assert during.value("rafka_kafka_connections_total") == before.value(
        "rafka_kafka_connections_total"
    ) + 2
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        after = scrape(http_broker.http_url)
        if after.value("rafka_kafka_connections_open") == before.value(
            "rafka_kafka_connections_open"
        ):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("closed connections still counted as open")


def test_a_waiting_fetch_is_counted_as_parked(http_broker: BrokerProcess) -> None:
    topic = unique("parked")
    create_topic(http_broker.bootstrap, topic)
    before = scrape(http_broker.http_url).value("rafka_fetches_parked")
    with RawKafka(http_broker.bootstrap, timeout=60) as consumer:
        # At the log end with a long max wait: it parks until the wait ends (no producer).
        waiting = threading.Thread(target=lambda: consumer.call(1, 12, FetchRequest(
            cluster_id=None, replica_id=-1, max_wait=timedelta(seconds=3), min_bytes=1,
            max_bytes=1_000_000, isolation_level=0, session_id=0, session_epoch=-1,
            topics=(FetchTopic(topic=topic, partitions=(FetchPartition(
                partition=0, current_leader_epoch=-1, fetch_offset=0, last_fetched_epoch=-1,
                log_start_offset=-1, partition_max_bytes=1_000_000),)),),
            forgotten_topics_data=(), rack_id="",
        )))
        waiting.start()
        deadline = time.monotonic() + 2
        while scrape(http_broker.http_url).value("rafka_fetches_parked") <= before:
            assert time.monotonic() < deadline, "the waiting fetch was never counted"
            time.sleep(0.05)
        waiting.join(timeout=30)
    deadline = time.monotonic() + 5
    while scrape(http_broker.http_url).value("rafka_fetches_parked") > before:
        assert time.monotonic() < deadline, "an answered fetch is still counted as parked"
        time.sleep(0.05)


def test_broker_and_process_metrics(http_broker: BrokerProcess) -> None:
    s = scrape(http_broker.http_url)
    assert s.value("rafka_broker_ready") == 1
    assert s.value("rafka_under_replicated_partitions") == 0
    assert s.value("rafka_topics") >= 1
    assert s.value("rafka_broker_info", broker_id="0") == 1
    assert s.value("process_resident_memory_bytes") > 0
    assert s.value("process_open_fds") > 0
    assert s.all("python_info")
    # Every family the collector documents is exported, none undocumented.
    exported = {name for name in s.families if name.startswith("rafka_")}
    assert exported == METRIC_NAMES


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets (rows included) and query variables."""
    found: list[str] = []
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop()
        panels.extend(panel.get("panels", []))
        found.extend(target["expr"] for target in panel.get("targets", []))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found.append(query["query"] if isinstance(query, dict) else query)
    return found


def test_grafana_dashboard_names_only_exported_metrics(http_broker: BrokerProcess) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = _expressions(dashboard)
    assert len(expressions) >= 8
    exported = scrape(http_broker.http_url).series_names()
    for expr in expressions:
        names = set(re.findall(r"\b((?:rafka|process|python)_[a-z0-9_]+)", expr))
        assert names, f"no metric in {expr!r}"
        for name in names:
            assert name in exported, f"{name} (in {expr!r}) is not a series the broker exports"
