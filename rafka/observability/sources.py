"""What observability reads: the broker, its group coordinator and its front doors' counters.

`Observed` is filled in by `rafka.server.app.BrokerServer` as it starts things, and read by the
Prometheus collector, the HTTP JSON API and the console. Nothing here is copied: every figure
is read from the live objects when asked for, on the event loop thread that changes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from rafka.broker import Broker
from rafka.broker.groups import GroupCoordinator
from rafka.observability.requests import RequestStats


class DoorCounters(Protocol):
    """The counters a front door keeps (the Kafka door's `KafkaFrontDoor` has them)."""

    connections_open: int
    connections_total: int
    requests: RequestStats

    def api_name(self, api_key: int) -> str: ...


class GrpcCounters(Protocol):
    """The counters the gRPC door keeps (`rafka.server.grpc.stats.CallStats`): requests keyed
    by method number, with gRPC status codes as error codes, and the Consume streams open."""

    requests: RequestStats
    streams_open: int

    def api_name(self, key: int) -> str: ...

    def error_name(self, code: int) -> str: ...


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a listener of this broker can be reached (as advertised to clients)."""

    name: str
    host: str
    port: int


@dataclass(slots=True)
class Observed:
    broker: Broker
    groups: GroupCoordinator | None = None
    # The Kafka front door's counters, once its listener runs.
    kafka: DoorCounters | None = None
    # The gRPC door's counters, once its listener runs.
    grpc: GrpcCounters | None = None
    endpoints: list[Endpoint] = field(default_factory=list)
    # True once logs are loaded and every listener accepts; False again when shutdown starts.
    ready: bool = False
    # True while logs are open and safe to read from the event loop (False while they load
    # in a worker thread at start-up and once shutdown starts closing them).
    loaded: bool = False
    started_at: float = field(default_factory=time.time)
    # The console may create and delete topics (config `console.allow_writes`).
    allow_writes: bool = False
