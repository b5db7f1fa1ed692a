"""Run the chosen workloads in order against one broker and collect a report.

produce -> consume (reads back exactly what produce wrote; when consume runs alone, the topic is
filled first, untimed) -> latency (its own one-partition topic). Topics are deleted afterwards
unless asked to keep them.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from rafka import __version__
from rafka.bench._drivers import Driver
from rafka.bench._procstat import BrokerProbe
from rafka.bench._results import BrokerCost, Latency, Result, Throughput
from rafka.bench._workload import WORKLOADS, Progress, Workload, no_progress

R = TypeVar("R", Throughput, Latency)

# progress_for(label, total) -> the Progress callback for that phase
ProgressFactory = Callable[[str, int], Progress]


def _silent(label: str, total: int) -> Progress:
    return no_progress


@dataclass(slots=True)
class BenchReport:
    via: str
    address: str
    workload: Workload
    topic: str
    started: str
    client: dict[str, str]
    broker_pid: int | None
    results: dict[str, Result] = field(default_factory=dict)
    wall_seconds: float = 0.0
    loadavg_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    loadavg_end: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def errors(self) -> int:
        """Failed deliveries, messages a complete consume did not get, latency messages lost."""
        total = 0
        for r in self.results.values():
            if isinstance(r, Throughput):
                total += r.errors
                if r.workload == "consume" and not r.capped:
                    total += r.expected - r.messages
            else:
                total += r.sent - r.received
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "rafka bench",
            "rafka_version": __version__,
            "started": self.started,
            "via": self.via,
            "address": self.address,
            "topic": self.topic,
            "config": self.workload.to_dict(),
            "client": self.client,
            "machine": {
                "cpus": os.cpu_count(),
                "kernel": platform.release(),
                "python": platform.python_version(),
                "loadavg_start": list(self.loadavg_start),
                "loadavg_end": list(self.loadavg_end),
            },
            "broker_pid": self.broker_pid,
            "wall_seconds": self.wall_seconds,
            "errors": self.errors,
            "results": {name: r.to_dict() for name, r in self.results.items()},
        }


def default_topic() -> str:
    return f"rafka-bench-{os.getpid()}-{int(time.time())}"


def run_bench(driver: Driver, address: str, w: Workload, workloads: tuple[str, ...], *,
              topic: str | None = None, broker_pid: int | None = None,
              keep_topics: bool = False, progress_for: ProgressFactory = _silent) -> BenchReport:
    unknown = [name for name in workloads if name not in WORKLOADS]
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(WORKLOADS)}")
    topic = topic or default_topic()
    probe = BrokerProbe(broker_pid)
    report = BenchReport(
        via=driver.via, address=address, workload=w, topic=topic,
        started=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        client=driver.describe(), broker_pid=broker_pid, loadavg_start=os.getloadavg(),
    )
    t0 = time.monotonic()
    created: list[str] = []
    try:
        if "produce" in workloads or "consume" in workloads:
            driver.create_topic(topic, w.partitions)
            created.append(topic)
            produced: Throughput | None = None
            if "produce" in workloads:
                with probe.measure() as meter:
                    produced = driver.produce(topic, w, progress_for("produce", w.count))
                report.results["produce"] = _with_cost(produced, meter.cost)
            if "consume" in workloads:
                if produced is None:
                    produced = driver.produce(topic, w, progress_for("fill (untimed)", w.count))
                expected = produced.messages
                with probe.measure() as meter:
                    consumed = driver.consume(topic, expected, w, progress_for("consume", expected))
                report.results["consume"] = _with_cost(consumed, meter.cost)
        if "latency" in workloads:
            lat_topic = f"{topic}-lat"
            driver.create_topic(lat_topic, 1)
            created.append(lat_topic)
            with probe.measure() as meter:
                lat = driver.latency(lat_topic, w, progress_for(
                    f"latency {w.rate}/s", int(w.rate * w.latency_seconds)))
            report.results["latency"] = _with_cost(lat, meter.cost)
    finally:
        if not keep_topics:
            for name in created:
                driver.delete_topic(name)
        report.wall_seconds = time.monotonic() - t0
        report.loadavg_end = os.getloadavg()
    return report


def _with_cost(result: R, cost: BrokerCost | None) -> R:
    """The same result with the broker's CPU/RSS attached (results are frozen)."""
    return result if cost is None else replace(result, broker=cost)


__all__ = ["BenchReport", "Latency", "ProgressFactory", "Throughput", "default_topic", "run_bench"]
