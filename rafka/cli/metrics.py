"""`rafka metrics`: the broker's Prometheus figures as readable tables.

It scrapes the broker's own `/metrics` (so the table and Prometheus can never disagree) and
prints: the broker summary (messages stored, messages and bytes in and out, oldest message
age), one row per topic, one per partition (`--partitions`), consumer groups with committed
offsets and lag, and request counts with errors and latency per Kafka API. `--json` prints the
same figures for scripts. `read_figures()` and `print_figures()` are what other tools (such
as the original Rafka's `check_metrics`) call to show the same thing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

DEFAULT_URL = "http://127.0.0.1:8080"


@dataclass
class TopicRow:
    topic: str
    partitions: int = 0
    messages_stored: int = 0
    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    size_bytes: int = 0
    oldest_message_age_seconds: float | None = None


@dataclass
class PartitionRow:
    topic: str
    partition: int
    log_start_offset: int = 0
    log_end_offset: int = 0
    high_watermark: int = 0
    size_bytes: int = 0
    segments: int = 0
    oldest_message_age_seconds: float | None = None


@dataclass
class GroupRow:
    group: str
    topic: str
    partition: int
    committed_offset: int
    lag: int | None


@dataclass
class ApiRow:
    api: str
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    mean_ms: float | None = None
    p99_ms_at_most: float | None = None


@dataclass
class Figures:
    ready: bool = False
    topics: list[TopicRow] = field(default_factory=list)
    partitions: list[PartitionRow] = field(default_factory=list)
    groups: list[GroupRow] = field(default_factory=list)
    group_members: dict[str, int] = field(default_factory=dict)
    apis: list[ApiRow] = field(default_factory=list)
    connections_open: int = 0
    connections_total: int = 0

    @property
    def messages_stored(self) -> int:
        return sum(t.messages_stored for t in self.topics)

    def total(self, name: str) -> int:
        return sum(int(getattr(t, name)) for t in self.topics)

    @property
    def oldest_message_age_seconds(self) -> float | None:
        ages = [t.oldest_message_age_seconds for t in self.topics]
        known = [a for a in ages if a is not None]
        return max(known) if known else None


def parse_figures(text: str, now: float | None = None) -> Figures:
    """Figures from a Prometheus text scrape of a Rafka broker."""
    now = time.time() if now is None else now
    figures = Figures()
    topics: dict[str, TopicRow] = {}
    partitions: dict[tuple[str, int], PartitionRow] = {}
    lags: dict[tuple[str, str, int], int] = {}
    committed: dict[tuple[str, str, int], int] = {}
    apis: dict[str, ApiRow] = {}
    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    sums: dict[str, float] = {}

    def topic(name: str) -> TopicRow:
        return topics.setdefault(name, TopicRow(name))

    def partition(labels: dict[str, str]) -> PartitionRow:
        key = (labels["topic"], int(labels["partition"]))
        return partitions.setdefault(key, PartitionRow(*key))

    topic_fields = {
        "rafka_topic_messages_in_total": "messages_in",
        "rafka_topic_messages_out_total": "messages_out",
        "rafka_topic_bytes_in_total": "bytes_in",
        "rafka_topic_bytes_out_total": "bytes_out",
        "rafka_topic_messages_stored": "messages_stored",
    }
    partition_fields = {
        "rafka_partition_log_start_offset": "log_start_offset",
        "rafka_partition_log_end_offset": "log_end_offset",
        "rafka_partition_high_watermark": "high_watermark",
        "rafka_partition_size_bytes": "size_bytes",
        "rafka_partition_segments": "segments",
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name in topic_fields:
                setattr(topic(labels["topic"]), topic_fields[name], int(value))
            elif name in partition_fields:
                setattr(partition(labels), partition_fields[name], int(value))
            elif name == "rafka_partition_oldest_message_timestamp_seconds":
                partition(labels).oldest_message_age_seconds = max(0.0, now - value)
            elif name == "rafka_broker_ready":
                figures.ready = value == 1
            elif name == "rafka_kafka_connections_open":
                figures.connections_open = int(value)
            elif name == "rafka_kafka_connections_total":
                figures.connections_total = int(value)
            elif name == "rafka_consumer_group_members":
                figures.group_members[labels["group"]] = int(value)
            elif name in ("rafka_consumer_group_lag", "rafka_consumer_group_committed_offset"):
                key = (labels["group"], labels["topic"], int(labels["partition"]))
                (lags if name.endswith("lag") else committed)[key] = int(value)
            elif name == "rafka_kafka_requests_total":
                apis.setdefault(labels["api"], ApiRow(labels["api"])).requests = int(value)
            elif name == "rafka_kafka_request_errors_total":
                row = apis.setdefault(labels["api"], ApiRow(labels["api"]))
                row.errors[labels["error"]] = int(value)
            elif name == "rafka_kafka_request_duration_seconds_bucket":
                buckets[labels["api"]].append((float(labels["le"]), value))
            elif name == "rafka_kafka_request_duration_seconds_sum":
                sums[labels["api"]] = value
    for part in partitions.values():
        found = topic(part.topic)
        found.partitions += 1
        found.size_bytes += part.size_bytes
        age = part.oldest_message_age_seconds
        if age is not None:
            previous = found.oldest_message_age_seconds
            found.oldest_message_age_seconds = age if previous is None else max(previous, age)
    for api, api_row in apis.items():
        if api_row.requests:
            api_row.mean_ms = sums.get(api, 0.0) / api_row.requests * 1000
            api_row.p99_ms_at_most = _quantile_bound(
                sorted(buckets[api]), 0.99, api_row.requests
            )
    figures.topics = sorted(topics.values(), key=lambda t: t.topic)
    figures.partitions = sorted(partitions.values(), key=lambda p: (p.topic, p.partition))
    figures.groups = [
        GroupRow(group, topic_name, index, offset, lags.get((group, topic_name, index)))
        for (group, topic_name, index), offset in sorted(committed.items())
    ]
    figures.apis = sorted(apis.values(), key=lambda a: a.api)
    return figures


def _quantile_bound(buckets: list[tuple[float, float]], q: float, count: int) -> float | None:
    """The upper bound (ms) of the histogram bucket holding quantile `q`."""
    for bound, cumulative in buckets:
        if cumulative >= q * count:
            return bound * 1000 if bound != float("inf") else None
    return None


def read_figures(url: str = DEFAULT_URL, timeout: float = 10.0) -> Figures:
    """Scrape `url` + `/metrics`. Raises OSError (urllib errors included) if unreachable."""
    with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=timeout) as response:
        return parse_figures(response.read().decode())


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _column(is_text: bool) -> dict[str, Any]:
    """Names are folded onto more lines rather than cut; numbers are right-aligned."""
    return {"justify": "left", "overflow": "fold"} if is_text else {"justify": "right"}


def print_figures(figures: Figures, console: Console, with_partitions: bool = False) -> None:
    summary = Table(title="Broker", show_header=False)
    summary.add_row("ready", "yes" if figures.ready else "no")
    summary.add_row("topics", str(len(figures.topics)))
    summary.add_row("partitions", str(len(figures.partitions)))
    summary.add_row("total messages stored", f"{figures.messages_stored:,}")
    summary.add_row("messages in", f"{figures.total('messages_in'):,}")
    summary.add_row("messages out", f"{figures.total('messages_out'):,}")
    summary.add_row("bytes in", f"{figures.total('bytes_in'):,}")
    summary.add_row("total bytes consumed", f"{figures.total('bytes_out'):,}")
    summary.add_row("oldest message age", _age(figures.oldest_message_age_seconds))
    summary.add_row(
        "connections", f"{figures.connections_open} open, {figures.connections_total} total"
    )
    console.print(summary)

    topics = Table(title="Topics")
    for title in ("topic", "partitions", "stored", "in", "out", "bytes in", "bytes out",
                  "size", "oldest"):
        topics.add_column(title, **_column(title in ("topic",)))
    for t in figures.topics:
        topics.add_row(
            t.topic, str(t.partitions), f"{t.messages_stored:,}", f"{t.messages_in:,}",
            f"{t.messages_out:,}", f"{t.bytes_in:,}", f"{t.bytes_out:,}", f"{t.size_bytes:,}",
            _age(t.oldest_message_age_seconds),
        )
    console.print(topics)

    if with_partitions:
        parts = Table(title="Partitions")
        for title in ("topic", "partition", "start", "end", "high watermark", "size",
                      "segments", "oldest"):
            parts.add_column(title, **_column(title == "topic"))
        for p in figures.partitions:
            parts.add_row(
                p.topic, str(p.partition), f"{p.log_start_offset:,}", f"{p.log_end_offset:,}",
                f"{p.high_watermark:,}", f"{p.size_bytes:,}", str(p.segments),
                _age(p.oldest_message_age_seconds),
            )
        console.print(parts)

    groups = Table(title="Consumer groups (offset positions and lag)")
    for title in ("group", "members", "topic", "partition", "committed offset", "lag"):
        groups.add_column(title, **_column(title in ("group", "topic")))
    for g in figures.groups:
        groups.add_row(
            g.group, str(figures.group_members.get(g.group, 0)), g.topic, str(g.partition),
            f"{g.committed_offset:,}", "-" if g.lag is None else f"{g.lag:,}",
        )
    console.print(groups)

    apis = Table(title="Kafka requests")
    for title in ("api", "requests", "errors", "mean ms", "p99 ms (at most)"):
        apis.add_column(title, **_column(title in ("api", "errors")))
    for a in figures.apis:
        errors = ", ".join(f"{name} {count}" for name, count in sorted(a.errors.items()))
        apis.add_row(
            a.api, f"{a.requests:,}", errors or "-",
            "-" if a.mean_ms is None else f"{a.mean_ms:.2f}",
            "-" if a.p99_ms_at_most is None else f"{a.p99_ms_at_most:g}",
        )
    console.print(apis)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "metrics",
        help="show a broker's metrics as tables (from its /metrics endpoint)",
        description="Scrape a broker's Prometheus endpoint and print its figures as tables.",
    )
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"the broker's HTTP address ({DEFAULT_URL})"
    )
    parser.add_argument("--partitions", action="store_true", help="one row per partition too")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        figures = read_figures(args.url)
    except (OSError, ValueError) as exc:
        print(f"rafka metrics: cannot read {args.url}/metrics: {exc}", file=sys.stderr)
        return 1
    if args.json:
        body = asdict(figures)
        body["messages_stored"] = figures.messages_stored
        body["oldest_message_age_seconds"] = figures.oldest_message_age_seconds
        print(json.dumps(body, indent=2))
        return 0
    print_figures(figures, Console(), with_partitions=args.partitions)
    return 0
