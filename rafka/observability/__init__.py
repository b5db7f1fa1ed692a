"""Observability: what the broker is doing, read from its plain counters without slowing it.

- `requests`: per-API request counters a front door bumps (counts, errors, latency buckets);
- `sources`: `Observed`, the live objects every reader looks at (broker, groups, doors);
- `figures`: topics, partitions and groups with their lag as plain values (API, console, CLI);
- `collector`: the Prometheus collector that turns the counters into metrics at scrape time.

The HTTP listener that serves all this is `rafka.server.http`.
"""

from rafka.observability.requests import LATENCY_BUCKETS, RequestStats
from rafka.observability.sources import DoorCounters, Endpoint, GrpcCounters, Observed

__all__ = [
    "LATENCY_BUCKETS",
    "DoorCounters",
    "Endpoint",
    "GrpcCounters",
    "Observed",
    "RequestStats",
]
