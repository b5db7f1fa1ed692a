"""A small blocking Kafka client for the command-line tools: one connection, one request at a
time, typed kio requests in and responses out through `rafka.protocol.client_codec`.

Tools talk to a broker the way any Kafka client does, so they work against Rafka or Kafka
alike and never reach into a broker's files.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from rafka.protocol import decode_response, encode_request

_SIZE = struct.Struct(">i")


class KafkaClientError(Exception):
    """The broker could not be reached, or answered something unreadable."""


class KafkaClient:
    def __init__(self, bootstrap: str, timeout: float = 10.0, client_id: str = "rafka-cli") -> None:
        host, _, port = bootstrap.rpartition(":")
        if not host or not port.isdigit():
            raise KafkaClientError(f"bootstrap server {bootstrap!r} is not HOST:PORT")
        try:
            self._sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        except OSError as exc:
            raise KafkaClientError(f"cannot connect to {bootstrap}: {exc.strerror or exc}") from exc
        self._client_id = client_id
        self._correlation_id = 0
        self.bootstrap = bootstrap

    def __enter__(self) -> KafkaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def call(self, api_key: int, version: int, request: Any) -> Any:
        """Send one request and wait for its response."""
        self._correlation_id += 1
        frame = encode_request(api_key, version, self._correlation_id, self._client_id, request)
        try:
            self._sock.sendall(frame)
            (size,) = _SIZE.unpack(self._read(4))
            payload = self._read(size)
        except OSError as exc:
            raise KafkaClientError(f"{self.bootstrap}: {exc.strerror or exc}") from exc
        (correlation_id,) = _SIZE.unpack_from(payload, 0)
        if correlation_id != self._correlation_id:
            raise KafkaClientError(
                f"response for request {correlation_id}, expected {self._correlation_id}"
            )
        return decode_response(api_key, version, payload)

    def _read(self, size: int) -> bytes:
        chunks = []
        while size:
            chunk = self._sock.recv(min(size, 1 << 20))
            if not chunk:
                raise KafkaClientError(f"{self.bootstrap} closed the connection")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)
