"""What the client library raises: one error type carrying the gRPC status and the broker's
message, which names the problem (an unknown topic, the broker that owns a partition, ...)."""

from __future__ import annotations

import grpc

# Worth retrying as is: the broker is restarting, shutting down or briefly unreachable.
RETRIABLE = frozenset({grpc.StatusCode.UNAVAILABLE})


class RafkaError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @property
    def retriable(self) -> bool:
        return self.code in RETRIABLE

    @classmethod
    def from_rpc(cls, exc: grpc.aio.AioRpcError) -> RafkaError:
        return cls(exc.code(), exc.details() or "")


class ClientClosedError(RuntimeError):
    """The producer or consumer was closed before the call could complete."""
