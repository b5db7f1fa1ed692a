"""The gRPC listener: a grpc.aio server on the broker's own event loop (uvloop included),
serving BrokerService, the standard `grpc.health.v1` health service and server reflection.

Shutdown: health turns NOT_SERVING, every call (and every open Consume stream) answers
UNAVAILABLE, then the server stops with a short grace period for calls already running.
"""

from __future__ import annotations

import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rafka.broker import Broker
from rafka.broker.cluster import ClusterLayout
from rafka.broker.consumers import ConsumerRegistry
from rafka.broker.groups import GroupCoordinator
from rafka.server.grpc.gen import rafka_pb2, rafka_pb2_grpc
from rafka.server.grpc.preserialized import PreSerializedResponses
from rafka.server.grpc.service import BrokerServicer
from rafka.server.grpc.stats import CallStats

logger = logging.getLogger("rafka.server.grpc")

SERVICE_NAME = rafka_pb2.DESCRIPTOR.services_by_name["BrokerService"].full_name
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SHUTDOWN_GRACE_S = 2.0

SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # gRPC sets SO_REUSEPORT by default, which lets a second broker bind a port already in
    # use without an error; we want "address in use" instead.
    ("grpc.so_reuseport", 0),
]


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GrpcListener:
    def __init__(
        self,
        broker: Broker,
        groups: GroupCoordinator,
        layout: ClusterLayout,
        consumers: ConsumerRegistry,
        host: str,
        port: int,
    ) -> None:
        self.host = host
        self.port = port
        self.servicer = BrokerServicer(broker, groups, layout, consumers)
        self.health = health.aio.HealthServicer()
        # Request metrics of this door (`rafka_grpc_*`), counted by an interceptor.
        self.calls = CallStats()
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Bind and start serving; returns the bound port (useful when asked for port 0)."""
        # The stats interceptor sees the call first; PreSerializedResponses only swaps the
        # response serializer, so streams that yield ready-made bytes skip a parse/serialize.
        server = grpc.aio.server(
            options=SERVER_OPTIONS, interceptors=[self.calls, PreSerializedResponses()]
        )
        rafka_pb2_grpc.add_BrokerServiceServicer_to_server(self.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        address = bind_address(self.host, self.port)
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(f"gRPC listener cannot bind {address}: {exc}") from exc
        if port == 0:
            raise OSError(f"gRPC listener cannot bind {address}")
        await server.start()
        self._server = server
        self.port = port
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return port

    async def close(self) -> None:
        if self._server is None:
            return
        await self.health.enter_graceful_shutdown()
        self.servicer.close()
        await self._server.stop(SHUTDOWN_GRACE_S)
        self._server = None
        logger.info("gRPC listener closed")
