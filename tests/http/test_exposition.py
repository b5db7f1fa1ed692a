"""The fast text exposition writes what prometheus-client's own `generate_latest` writes."""

from __future__ import annotations

import gc
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from rafka.broker import Broker, BrokerSettings
from rafka.observability import Observed
from rafka.observability.collector import RafkaCollector
from rafka.observability.exposition import BulkFamily, render
from rafka.records.builder import Record, build_batch
from tests.http.scrape import parse


def test_render_matches_generate_latest(tmp_path: Path) -> None:
    broker = Broker(BrokerSettings(data_dir=tmp_path))
    broker.open()
    topic = broker.create_topic("t", 3)
    assert topic is not None
    batch = build_batch([Record(key=None, value=b"v", headers=(), timestamp_ms=5, offset=0)])
    topic.partitions[1].append(batch)
    collector = RafkaCollector(Observed(broker, None, loaded=True))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)

    ours = parse(render(collector.collect()))
    theirs = parse(generate_latest(registry).decode())
    assert ours == theirs
    assert ours.value("rafka_partition_log_end_offset", topic="t", partition="1") == 1
    assert ours.value("rafka_partition_oldest_message_timestamp_seconds", partition="1") == 0.005


def test_label_values_are_escaped() -> None:
    bulk = BulkFamily("x_lag", "a \\ doc\nwith a newline", "gauge", ("group", "p"))
    bulk.add(('we"ird\\group\nname', "0"), 3)
    counter = BulkFamily("x_events", "events", "counter", ("group",))
    counter.add(("g",), 2)
    plain_gauge = GaugeMetricFamily("x_plain", "plain", labels=["group"])
    plain_gauge.add_metric(['we"ird'], 1.5)
    plain_counter = CounterMetricFamily("x_count", "count", value=7)
    families = [bulk, counter, plain_gauge, plain_counter]

    class Fixed:
        def collect(self) -> list[object]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())  # type: ignore[arg-type]
    text = render(families)  # type: ignore[arg-type]
    theirs = generate_latest(registry).decode()
    assert parse(text) == parse(theirs)
    # Line for line the same, except that integers are written without ".0".
    assert [
        line.removesuffix(".0") for line in theirs.splitlines()
    ] == text.splitlines()
    assert parse(text).value("x_lag", group='we"ird\\group\nname') == 3


def test_a_warm_scrape_keeps_almost_no_tracked_objects_alive(tmp_path: Path) -> None:
    """A scrape of 1,000 partitions must not set off the garbage collector by itself: the
    objects it keeps alive at once (families, columns) stay below the young generation's
    threshold, whereas a fresh tuple per row would be some 7,000 (docs/observability.md)."""
    broker = Broker(BrokerSettings(data_dir=tmp_path))
    broker.open()
    topic = broker.create_topic("wide", 1000)
    assert topic is not None
    batch = build_batch([Record(key=None, value=b"v", headers=(), timestamp_ms=5, offset=0)])
    for partition in topic.partitions:
        partition.append(batch)
    collector = RafkaCollector(Observed(broker, None, loaded=True))
    collector.oldest.budget_s = 3600.0  # fill the timestamp cache in the first pass
    render(collector.collect())  # the first scrape fills the label and timestamp caches

    threshold = gc.get_threshold()[0]
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        families = list(collector.collect())
        alive = gc.get_count()[0] - before
        text = render(families)
    finally:
        gc.enable()
    assert parse(text).value("rafka_partition_oldest_message_timestamp_seconds",
                             topic="wide", partition="999") == 0.005
    assert alive < threshold, f"{alive} tracked objects alive during a warm scrape"
