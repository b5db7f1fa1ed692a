"""The Kafka front door: what this broker tells Kafka clients, and which handler answers what.

`KafkaFrontDoor` is protocol-level state shared by every connection (the advertised endpoint,
the cluster layout, fetch sessions, the topic-id index); handlers are plain functions in
`handlers/` that turn a decoded request into broker calls and a response.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rafka.broker import Broker, Topic
from rafka.broker.cluster import ClusterLayout, StaticLayout
from rafka.broker.groups import GroupCoordinator
from rafka.observability.requests import RequestStats
from rafka.protocol import SupportedApis
from rafka.server.kafka.context import HandlerResult, RequestContext
from rafka.server.kafka.fetch_sessions import FetchSessionCache


@dataclass(frozen=True, slots=True)
class AdvertisedEndpoint:
    host: str
    port: int


Handler = Callable[["KafkaFrontDoor", RequestContext, Any], HandlerResult]


@dataclass(frozen=True, slots=True)
class ApiSpec:
    name: str
    min_version: int
    max_version: int
    handler: Handler
    # May be called before the connection has authenticated (ApiVersions, SASL handshake).
    before_auth: bool = False


class KafkaFrontDoor:
    def __init__(
        self,
        broker: Broker,
        endpoint: AdvertisedEndpoint,
        groups: GroupCoordinator | None = None,
        layout: ClusterLayout | None = None,
    ) -> None:
        self.broker = broker
        self.endpoint = endpoint
        # Which broker owns which partition (default: a single node owning all of them).
        self.layout: ClusterLayout = layout if layout is not None else StaticLayout()
        # The group coordinator (None: every group API answers COORDINATOR_NOT_AVAILABLE).
        self.groups = groups
        self.fetch_sessions = FetchSessionCache()
        from rafka.server.kafka.handlers import API_TABLE

        self.apis: dict[int, ApiSpec] = API_TABLE
        # The same table in the codec's terms, so decoding rejects what we do not implement.
        self.supported = SupportedApis.of(
            self.apis, {key: (s.min_version, s.max_version) for key, s in self.apis.items()}
        )
        # Plain integers for the metrics collector (rafka.observability), read at scrape time.
        self.connections_total = 0
        self.connections_open = 0
        self.requests = RequestStats()

    def api_name(self, api_key: int) -> str:
        spec = self.apis.get(api_key)
        return spec.name if spec is not None else str(api_key)

    @property
    def node_id(self) -> int:
        return self.broker.settings.broker_id

    def topic_by_id(self, topic_id: uuid.UUID) -> Topic | None:
        return self.broker.topics_by_id.get(topic_id)
