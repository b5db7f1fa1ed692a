"""Transports a benchmark can run over, behind one small interface.

A driver is anything with the methods of `Driver`: `kafka` (librdkafka, `_kafka.py`) and `grpc`
(Rafka's own client library `rafka.client`, `_grpc.py`: PublishBatch through its Producer, the
Consume stream through its Consumer). Another transport is one more class and one more branch
in `open_driver`; the workloads, progress bar, table and JSON stay as they are.
"""

from __future__ import annotations

import importlib.util
from typing import Protocol

from rafka.bench._results import Latency, Throughput
from rafka.bench._workload import Progress, Workload

VIAS = ("kafka", "grpc")
DEFAULT_ADDRESS = {"kafka": "127.0.0.1:9092", "grpc": "127.0.0.1:50051"}


class DriverUnavailable(RuntimeError):
    """The transport asked for cannot be used in this installation."""


class Driver(Protocol):
    via: str

    def describe(self) -> dict[str, str]:
        """Client library versions, for the report."""
        ...

    def create_topic(self, topic: str, partitions: int) -> None: ...

    def delete_topic(self, topic: str) -> None: ...

    def produce(self, topic: str, w: Workload, progress: Progress) -> Throughput: ...

    def consume(self, topic: str, expected: int, w: Workload, progress: Progress
                ) -> Throughput: ...

    def latency(self, topic: str, w: Workload, progress: Progress) -> Latency: ...


def open_driver(via: str, address: str) -> Driver:
    if via == "kafka":
        try:
            from rafka.bench._kafka import KafkaDriver

            return KafkaDriver(address)
        except RuntimeError as exc:
            raise DriverUnavailable(str(exc)) from exc
    if via == "grpc":
        if importlib.util.find_spec("rafka.client") is None:
            raise DriverUnavailable(
                "--via grpc needs the gRPC client (rafka.client), which this build does not have"
            )
        try:
            from rafka.bench._grpc import GrpcDriver

            return GrpcDriver(address)
        except ImportError as exc:
            raise DriverUnavailable(f"--via grpc: the gRPC client cannot load: {exc}") from exc
    raise DriverUnavailable(f"unknown transport {via!r}; choose from {', '.join(VIAS)}")
