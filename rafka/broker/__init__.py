"""The broker layer: topics, partitions, produce/fetch semantics. Knows no wire protocol."""

from rafka.broker.broker import Broker, BrokerSettings, Topic, wall_clock_ms
from rafka.broker.fetch import FetchedPartition, FetchPartition, fetch, read_once
from rafka.broker.partition import Partition

__all__ = [
    "Broker",
    "BrokerSettings",
    "FetchPartition",
    "FetchedPartition",
    "Partition",
    "Topic",
    "fetch",
    "read_once",
    "wall_clock_ms",
]
