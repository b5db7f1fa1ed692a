"""What a workload measured: small frozen records that turn into JSON-ready dicts.

MB is 10^6 payload bytes (record values only, no keys or framing), as in ../shared/bench, so
figures compare with the peers' tables directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BrokerCost:
    """The broker process over one workload, read from /proc (all threads)."""

    cpu_seconds: float
    peak_rss_mb: float


@dataclass(frozen=True, slots=True)
class Throughput:
    """A produce or consume run: `messages` counted over `seconds`.

    Produce: from the first send to the last acknowledgement. Consume: from the first fetch to
    the arrival of the last expected message (never to a timeout).
    """

    workload: str
    messages: int
    expected: int
    bytes: int
    seconds: float
    errors: int
    client_cpu_seconds: float
    capped: bool  # the duration cap ended the run before `expected` messages
    broker: BrokerCost | None = None
    # Mean produce request payload per partition batch, from librdkafka statistics (produce only).
    avg_batch_bytes: float | None = None
    # Raw Fetch consume: how many times the topic was read from offset 0 (see _kafka.py).
    passes: int = 1

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workload": self.workload,
            "messages": self.messages,
            "expected": self.expected,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "msgs_per_s": self.msgs_per_s,
            "mb_per_s": self.mb_per_s,
            "errors": self.errors,
            "capped": self.capped,
            "client_cpu_pct": _pct(self.client_cpu_seconds, self.seconds),
            "avg_batch_bytes": self.avg_batch_bytes,
            "passes": self.passes,
        }
        out.update(_broker_fields(self.broker, self.seconds, self.bytes))
        return out


@dataclass(frozen=True, slots=True)
class Latency:
    """End-to-end latency: receive time minus *scheduled* send time, per message, in ms."""

    workload: str
    sent: int
    received: int
    rate: int
    seconds: float
    linger_ms: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    # How late the sender's send() returned after the scheduled time: large = client-bound.
    sender_lag_p99_ms: float | None = None
    sender_lag_max_ms: float | None = None
    # Wall time of the whole run (warm-up, sending, draining): the window of the broker cost.
    elapsed_seconds: float | None = None
    broker: BrokerCost | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "broker"}
        out.update(_broker_fields(self.broker, self.elapsed_seconds or self.seconds, 0))
        return out


Result = Throughput | Latency


def percentiles(samples_ns: list[int]) -> dict[str, float | None]:
    """Nearest-rank percentiles of latency samples given in ns, returned in ms."""
    if not samples_ns:
        return dict.fromkeys(("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms"))
    ordered = sorted(samples_ns)
    n = len(ordered)

    def pick(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1e6

    return {
        "p50_ms": pick(0.5),
        "p90_ms": pick(0.9),
        "p99_ms": pick(0.99),
        "p999_ms": pick(0.999),
        "max_ms": ordered[-1] / 1e6,
        "mean_ms": sum(ordered) / n / 1e6,
    }


def _pct(part: float, whole: float) -> float | None:
    return 100 * part / whole if whole > 0 else None


def _broker_fields(cost: BrokerCost | None, seconds: float, nbytes: int) -> dict[str, Any]:
    if cost is None:
        return {"broker_cpu_s": None, "broker_cpu_pct": None, "broker_cpu_s_per_gb": None,
                "broker_peak_rss_mb": None}
    return {
        "broker_cpu_s": cost.cpu_seconds,
        "broker_cpu_pct": _pct(cost.cpu_seconds, seconds),
        "broker_cpu_s_per_gb": cost.cpu_seconds / (nbytes / 1e9) if nbytes else None,
        "broker_peak_rss_mb": cost.peak_rss_mb,
    }
