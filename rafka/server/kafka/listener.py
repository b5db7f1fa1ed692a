"""The Kafka listener: accepts connections and hands each to a KafkaConnection."""

from __future__ import annotations

import asyncio
import logging
import socket

from rafka.server.kafka.connection import KafkaConnection
from rafka.server.kafka.service import KafkaFrontDoor

logger = logging.getLogger("rafka.server.kafka")


class KafkaListener:
    def __init__(self, door: KafkaFrontDoor, host: str, port: int, max_request_bytes: int) -> None:
        self.door = door
        self.host = host
        self.port = port
        self.max_request_bytes = max_request_bytes
        self.connections: set[KafkaConnection] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Bind and start accepting; returns the bound port (useful when asked for port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: KafkaConnection(self.door, self.max_request_bytes, self.connections),
            self.host,
            self.port,
            reuse_address=True,
            backlog=1024,
        )
        sockets = self._server.sockets
        self.port = sockets[0].getsockname()[1] if sockets else self.port
        return self.port

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        self.stop_accepting()
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()


def advertised_host_for(bind_host: str) -> str:
    """A wildcard bind address is no use to a client; advertise this machine's name instead."""
    if bind_host in ("", "0.0.0.0", "::"):
        return socket.gethostname()
    return bind_host
