"""The Prometheus collector: reads the broker's plain integer counters when scraped.

Hot paths only ever do `counter += 1` on plain attributes (`Partition.messages_in`,
`KafkaFrontDoor.connections_total`, the Kafka and gRPC doors' `RequestStats`); nothing there
touches prometheus-client.
At scrape time `RafkaCollector.collect()` walks topics, partitions, groups and request stats
once and yields metric families; it runs on the event loop thread, the only thread that
changes those counters, so every scrape is a consistent snapshot.

`docs/observability.md` lists every metric with its meaning; `METRIC_NAMES` is the same list
for tests (the Grafana dashboard may only use names that are in it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from rafka import __version__
from rafka.broker.groups import GroupState
from rafka.observability.exposition import BulkFamily, render
from rafka.observability.figures import OldestTimestamps
from rafka.observability.requests import LATENCY_BUCKETS, RequestStats, error_name
from rafka.observability.sources import Observed

_BUCKET_LABELS = [str(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]


class RafkaCollector(Collector):
    def __init__(self, observed: Observed) -> None:
        self.observed = observed
        self.oldest = OldestTimestamps()
        # Label values per topic, (topic,) and [(topic, "0"), (topic, "1"), ...], kept from
        # one scrape to the next so a scrape allocates no tuples per partition (see
        # `exposition.BulkFamily` for why that matters).
        self._labels: dict[str, tuple[tuple[str], list[tuple[str, str]]]] = {}

    def describe(self) -> list[Metric]:
        # Describing would mean collecting; returning nothing keeps registration cheap.
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self._broker()
        yield from self._kafka_door()
        yield from self._grpc_door()
        if self.observed.loaded:
            # Logs load (and close) in a worker thread; read them only while they are open.
            yield from self._topics_and_partitions()
            yield from self._groups()

    # ---------------------------------------------------------------- broker

    def _broker(self) -> Iterator[Metric]:
        observed = self.observed
        broker = observed.broker
        info = GaugeMetricFamily(
            "rafka_broker_info",
            "This broker: id, cluster id and Rafka version (value is always 1)",
            labels=["broker_id", "cluster_id", "version"],
        )
        info.add_metric(
            [str(broker.settings.broker_id), broker.cluster_id, __version__], 1.0
        )
        yield info
        yield GaugeMetricFamily(
            "rafka_broker_ready",
            "1 when logs are loaded and every listener accepts (what /readyz answers)",
            value=1.0 if observed.ready else 0.0,
        )
        yield GaugeMetricFamily(
            "rafka_broker_start_time_seconds",
            "When this broker process started, in seconds since the Unix epoch",
            value=observed.started_at,
        )
        yield GaugeMetricFamily(
            "rafka_under_replicated_partitions",
            "Partitions with fewer in-sync replicas than replicas (always 0 on a single node)",
            value=0.0,
        )
        yield CounterMetricFamily(
            "rafka_log_retention_deleted_segments",
            "Log segments deleted by retention (retention.ms / retention.bytes)",
            value=broker.retention_segments_deleted,
        )

    # ---------------------------------------------------------------- topics, partitions

    def _topics_and_partitions(self) -> Iterator[Metric]:
        broker = self.observed.broker
        tp = ("topic", "partition")
        start = BulkFamily(
            "rafka_partition_log_start_offset", "First offset still in the log", "gauge", tp
        )
        end = BulkFamily(
            "rafka_partition_log_end_offset", "Offset the next appended record gets", "gauge", tp
        )
        hw = BulkFamily(
            "rafka_partition_high_watermark", "Offset up to which consumers may read", "gauge", tp
        )
        size = BulkFamily(
            "rafka_partition_size_bytes", "Bytes of all segment files of the log", "gauge", tp
        )
        segments = BulkFamily(
            "rafka_partition_segments", "Segments in the log, the active one included", "gauge", tp
        )
        oldest = BulkFamily(
            "rafka_partition_oldest_message_timestamp_seconds",
            "Timestamp of the oldest message still stored (absent for an empty partition)",
            "gauge",
            tp,
        )
        by_topic = ("topic",)
        messages_in = BulkFamily(
            "rafka_topic_messages_in", "Messages appended by producers", "counter", by_topic
        )
        messages_out = BulkFamily(
            "rafka_topic_messages_out", "Messages handed to consumers by fetches", "counter",
            by_topic,
        )
        bytes_in = BulkFamily(
            "rafka_topic_bytes_in", "Record batch bytes appended by producers", "counter",
            by_topic,
        )
        bytes_out = BulkFamily(
            "rafka_topic_bytes_out", "Record batch bytes sent to consumers", "counter", by_topic
        )
        stored = BulkFamily(
            "rafka_topic_messages_stored",
            "Messages currently stored (log end - log start offset, summed over partitions)",
            "gauge",
            by_topic,
        )
        rolled = flushes = recovered = 0
        partition_count = 0
        self.oldest.start_pass()
        oldest_of = self.oldest.get
        known, self._labels = self._labels, {}
        for name, topic in broker.topics.items():
            m_in = m_out = b_in = b_out = kept = 0
            cached = known.get(name)
            if cached is None or len(cached[1]) != len(topic.partitions):
                cached = ((name,), [(name, str(p.index)) for p in topic.partitions])
            self._labels[name] = cached
            topic_labels, partition_labels = cached
            for partition, labels in zip(topic.partitions, partition_labels, strict=True):
                log = partition.log
                log_start, log_end = log.log_start_offset, log.log_end_offset
                start.add(labels, log_start)
                end.add(labels, log_end)
                hw.add(labels, log.high_watermark)
                size.add(labels, log.size_bytes)
                segments.add(labels, log.segment_count)
                timestamp = oldest_of(partition)
                if timestamp is not None:
                    oldest.add(labels, timestamp / 1000)
                m_in += partition.messages_in
                m_out += partition.messages_out
                b_in += partition.bytes_in
                b_out += partition.bytes_out
                kept += log_end - log_start
                stats = log.stats
                rolled += stats.segments_rolled
                flushes += stats.flushes
                recovered += stats.segments_recovered
            partition_count += len(topic.partitions)
            messages_in.add(topic_labels, m_in)
            messages_out.add(topic_labels, m_out)
            bytes_in.add(topic_labels, b_in)
            bytes_out.add(topic_labels, b_out)
            stored.add(topic_labels, kept)
        yield GaugeMetricFamily("rafka_topics", "Topics on this broker", value=len(broker.topics))
        yield GaugeMetricFamily(
            "rafka_partitions", "Partitions on this broker", value=partition_count
        )
        yield GaugeMetricFamily(
            "rafka_fetches_parked",
            "Fetches waiting for data (long polls: Kafka's fetch purgatory)",
            value=broker.parked_fetches,
        )
        yield from (messages_in, messages_out, bytes_in, bytes_out, stored)
        yield from (start, end, hw, size, segments, oldest)
        yield CounterMetricFamily(
            "rafka_log_segments_rolled", "Segments rolled (summed over current partitions)",
            value=rolled,
        )
        yield CounterMetricFamily(
            "rafka_log_flushes", "Log fsyncs (summed over current partitions)", value=flushes
        )
        yield CounterMetricFamily(
            "rafka_log_recovered_segments",
            "Segments checked and repaired at load after an unclean shutdown",
            value=recovered,
        )

    # ---------------------------------------------------------------- Kafka front door

    def _kafka_door(self) -> Iterator[Metric]:
        door = self.observed.kafka
        yield GaugeMetricFamily(
            "rafka_kafka_connections_open",
            "Kafka client connections open now",
            value=door.connections_open if door is not None else 0,
        )
        yield CounterMetricFamily(
            "rafka_kafka_connections",
            "Kafka client connections accepted",
            value=door.connections_total if door is not None else 0,
        )
        yield from _request_families(
            "rafka_kafka",
            "Kafka requests answered, by API",
            "Error codes in Kafka responses (one per partition or group that failed), by API "
            "and Kafka error name",
            "Time from a decoded request to its response (Fetch includes its long-poll wait)",
            door.requests if door is not None else None,
            door.api_name if door is not None else str,
            error_name,
        )

    # ---------------------------------------------------------------- gRPC door

    def _grpc_door(self) -> Iterator[Metric]:
        door = self.observed.grpc
        yield GaugeMetricFamily(
            "rafka_grpc_streams_open",
            "gRPC Consume streams open now",
            value=door.streams_open if door is not None else 0,
        )
        yield from _request_families(
            "rafka_grpc",
            "gRPC calls finished (Consume streams when they end), by method",
            "gRPC calls that ended with a status other than OK, by method and status name",
            "Time from a gRPC call's arrival to its response (unary methods only)",
            door.requests if door is not None else None,
            door.api_name if door is not None else str,
            door.error_name if door is not None else str,
        )

    # ---------------------------------------------------------------- consumer groups

    def _groups(self) -> Iterator[Metric]:
        coordinator = self.observed.groups
        broker = self.observed.broker
        by_state = GaugeMetricFamily(
            "rafka_consumer_groups", "Consumer groups, by state", labels=["state"]
        )
        members = GaugeMetricFamily(
            "rafka_consumer_group_members", "Members of each group", labels=["group"]
        )
        gtp = ("group", "topic", "partition")
        committed = BulkFamily(
            "rafka_consumer_group_committed_offset",
            "The group's committed offset (the next offset it will consume)",
            "gauge",
            gtp,
        )
        lag = BulkFamily(
            "rafka_consumer_group_lag",
            "Messages the group has yet to consume: high watermark - committed offset",
            "gauge",
            gtp,
        )
        counts = dict.fromkeys((state.value for state in GroupState), 0)
        if coordinator is not None:
            for listing in coordinator.list_groups():
                counts[listing.state.value] += 1
                summary = coordinator.describe_group(listing.group_id)
                members.add_metric(
                    [listing.group_id], len(summary.members) if summary is not None else 0
                )
                offsets = coordinator.fetch_offsets(listing.group_id, None).offsets
                for (topic_name, index), found in offsets.items():
                    if found is None or found.offset < 0:
                        continue
                    labels = (listing.group_id, topic_name, str(index))
                    committed.add(labels, found.offset)
                    topic = broker.topics.get(topic_name)
                    if topic is not None and 0 <= index < len(topic.partitions):
                        lag.add(labels, topic.partitions[index].log.high_watermark - found.offset)
        for state, count in counts.items():
            by_state.add_metric([state], count)
        yield from (by_state, members, committed, lag)
        yield CounterMetricFamily(
            "rafka_consumer_group_rebalances",
            "Group rebalances completed",
            value=coordinator.rebalances if coordinator is not None else 0,
        )
        yield CounterMetricFamily(
            "rafka_consumer_group_offsets_expired",
            "Committed offsets removed by offsets.retention.minutes",
            value=coordinator.offsets_expired if coordinator is not None else 0,
        )


def _request_families(
    prefix: str,
    requests_help: str,
    errors_help: str,
    latency_help: str,
    stats: RequestStats | None,
    api_name: Callable[[int], str],
    error_of: Callable[[int], str],
) -> Iterator[Metric]:
    """`<prefix>_requests` [api], `<prefix>_request_errors` [api, error] and
    `<prefix>_request_duration_seconds` [api] of one front door's counters. An API whose
    calls all went unmeasured (gRPC streams) has no histogram series."""
    requests = CounterMetricFamily(f"{prefix}_requests", requests_help, labels=["api"])
    errors = CounterMetricFamily(
        f"{prefix}_request_errors", errors_help, labels=["api", "error"]
    )
    latency = HistogramMetricFamily(
        f"{prefix}_request_duration_seconds", latency_help, labels=["api"]
    )
    if stats is not None:
        for key, api in sorted(stats.apis.items()):
            name = api_name(key)
            requests.add_metric([name], api.count)
            for code, count in sorted(api.errors.items()):
                errors.add_metric([name, error_of(code)], count)
            if not any(api.buckets):
                continue
            cumulative, buckets = 0, []
            for label, count in zip(_BUCKET_LABELS, api.buckets, strict=True):
                cumulative += count
                buckets.append((label, cumulative))
            latency.add_metric([name], buckets, api.seconds)
    yield from (requests, errors, latency)


class Exporter:
    """Everything `/metrics` serves: the broker's collector and prometheus-client's process,
    platform and garbage-collector collectors (`process_*`, `python_*`).

    `registry` holds all of them for any prometheus-client tool; `render()` is the fast path
    the HTTP listener uses (the broker's families through `exposition.render`, the small
    runtime ones through `generate_latest`).
    """

    def __init__(self, observed: Observed) -> None:
        self.collector = RafkaCollector(observed)
        self.runtime = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.runtime)
        PlatformCollector(registry=self.runtime)
        GCCollector(registry=self.runtime)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)

    def render(self) -> bytes:
        text = render(self.collector.collect())
        return text.encode() + generate_latest(self.runtime)


#: Every metric family the broker exports (counters without their `_total` suffix, as
#: prometheus-client's parser reports family names).
METRIC_NAMES: frozenset[str] = frozenset(
    {
        "rafka_broker_info",
        "rafka_broker_ready",
        "rafka_broker_start_time_seconds",
        "rafka_under_replicated_partitions",
        "rafka_log_retention_deleted_segments",
        "rafka_topics",
        "rafka_partitions",
        "rafka_fetches_parked",
        "rafka_topic_messages_in",
        "rafka_topic_messages_out",
        "rafka_topic_bytes_in",
        "rafka_topic_bytes_out",
        "rafka_topic_messages_stored",
        "rafka_partition_log_start_offset",
        "rafka_partition_log_end_offset",
        "rafka_partition_high_watermark",
        "rafka_partition_size_bytes",
        "rafka_partition_segments",
        "rafka_partition_oldest_message_timestamp_seconds",
        "rafka_log_segments_rolled",
        "rafka_log_flushes",
        "rafka_log_recovered_segments",
        "rafka_kafka_connections_open",
        "rafka_kafka_connections",
        "rafka_kafka_requests",
        "rafka_kafka_request_errors",
        "rafka_kafka_request_duration_seconds",
        "rafka_grpc_streams_open",
        "rafka_grpc_requests",
        "rafka_grpc_request_errors",
        "rafka_grpc_request_duration_seconds",
        "rafka_consumer_groups",
        "rafka_consumer_group_members",
        "rafka_consumer_group_committed_offset",
        "rafka_consumer_group_lag",
        "rafka_consumer_group_rebalances",
        "rafka_consumer_group_offsets_expired",
    }
)
