"""The broker layer: topics, partitions, produce/fetch semantics. Knows no wire protocol.

`FileRegion` is the log's: fetch results may carry runs of segment files for a front door to
send from the file (rafka.log.region).
"""

from rafka.broker.broker import Broker, BrokerSettings, Topic, wall_clock_ms
from rafka.broker.fetch import FetchedPartition, FetchPartition, LongPoll, fetch, read_once
from rafka.broker.partition import Partition
from rafka.log import FileRegion

__all__ = [
    "Broker",
    "BrokerSettings",
    "FetchPartition",
    "FetchedPartition",
    "FileRegion",
    "LongPoll",
    "Partition",
    "Topic",
    "fetch",
    "read_once",
    "wall_clock_ms",
]
