"""The knobs of one benchmark run, shared by every transport (Kafka today, gRPC later)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

WORKLOADS = ("produce", "consume", "latency")
ACKS = ("0", "1", "all")
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
PAYLOADS = ("zeros", "random")
# Who reads in the consume workload over Kafka: librdkafka (confluent-kafka, decodes every
# message) or the raw Fetch client (`_rawfetch.py`, counts records from batch headers).
CONSUMERS = ("librdkafka", "fetch")

# progress(done, total): called from the workload's own loop a few times a second at most.
Progress = Callable[[int, int], None]


def no_progress(done: int, total: int) -> None:
    """A progress sink that shows nothing."""


@dataclass(frozen=True, slots=True)
class Workload:
    """Produce/consume: `count` messages of `size` bytes over `partitions`, each phase stopped
    after `max_seconds` at the latest. Latency: one partition, `rate` messages a second for
    `latency_seconds`, with its own `latency_linger_ms` (0: send each message at once)."""

    size: int = 100
    count: int = 100_000
    partitions: int = 1
    acks: str = "1"
    linger_ms: int = 5
    compression: str = "none"
    # The client's largest batch per partition (librdkafka `batch.size`); None: client default.
    batch_bytes: int | None = None
    # "zeros" as ../shared/bench does; "random" for a fair test of compression.
    payload: str = "zeros"
    # "librdkafka": what an application sees; "fetch": how fast the broker serves (see CONSUMERS).
    consumer: str = "librdkafka"
    max_seconds: float = 30.0
    rate: int = 5000
    latency_seconds: float = 10.0
    latency_linger_ms: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.size < 8:
            problems.append("size must be >= 8 bytes (latency payloads carry an 8-byte stamp)")
        if self.count < 1:
            problems.append("count must be >= 1")
        if self.partitions < 1:
            problems.append("partitions must be >= 1")
        if self.acks not in ACKS:
            problems.append(f"acks must be one of {', '.join(ACKS)}")
        if self.compression not in COMPRESSIONS:
            problems.append(f"compression must be one of {', '.join(COMPRESSIONS)}")
        if self.payload not in PAYLOADS:
            problems.append(f"payload must be one of {', '.join(PAYLOADS)}")
        if self.consumer not in CONSUMERS:
            problems.append(f"consumer must be one of {', '.join(CONSUMERS)}")
        if self.linger_ms < 0 or self.latency_linger_ms < 0:
            problems.append("linger must be >= 0 ms")
        if self.max_seconds <= 0 or self.latency_seconds <= 0:
            problems.append("durations must be > 0 s")
        if self.rate < 1:
            problems.append("rate must be >= 1 message/s")
        if self.batch_bytes is not None and self.batch_bytes < 1024:
            problems.append("batch bytes must be >= 1024")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
