"""Benchmark workloads against a running broker: produce, consume, end-to-end latency.

`rafka bench` is the command; this package is what it and `benchmarks/run.py` call:

    driver = open_driver("kafka", "127.0.0.1:9092")
    report = run_bench(driver, "127.0.0.1:9092", Workload(size=100, count=200_000),
                       ("produce", "consume", "latency"), broker_pid=pid)
    report.to_dict()

Transports implement `Driver` (`_drivers.py`, which also describes the gRPC hook). Timing rules:
produce runs from the first send to the last acknowledgement; consume from the first fetch to
the arrival of the last expected message, never to a timeout (read by librdkafka, or with
`Workload(consumer="fetch")` by the raw Fetch client of `_rawfetch.py`, which counts records from
batch headers and so measures the broker's serving rate); latency is measured per message
from its scheduled send time by a receiver that wakes for every message.
"""

from rafka.bench._drivers import (
    DEFAULT_ADDRESS,
    VIAS,
    Driver,
    DriverUnavailable,
    open_driver,
)
from rafka.bench._procstat import BrokerProbe
from rafka.bench._results import BrokerCost, Latency, Result, Throughput, percentiles
from rafka.bench._runner import BenchReport, ProgressFactory, default_topic, run_bench
from rafka.bench._workload import (
    ACKS,
    COMPRESSIONS,
    CONSUMERS,
    PAYLOADS,
    WORKLOADS,
    Progress,
    Workload,
)

__all__ = [
    "ACKS",
    "COMPRESSIONS",
    "CONSUMERS",
    "DEFAULT_ADDRESS",
    "PAYLOADS",
    "VIAS",
    "WORKLOADS",
    "BenchReport",
    "BrokerCost",
    "BrokerProbe",
    "Driver",
    "DriverUnavailable",
    "Latency",
    "Progress",
    "ProgressFactory",
    "Result",
    "Throughput",
    "Workload",
    "default_topic",
    "open_driver",
    "percentiles",
    "run_bench",
]
