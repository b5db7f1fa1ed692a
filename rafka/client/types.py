"""The values the client library hands out: a delivered message and a publish receipt."""

from __future__ import annotations

from dataclasses import dataclass

from rafka.server.grpc.gen import rafka_pb2 as pb


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a published message was stored."""

    topic: str
    partition: int
    offset: int
    message_id: str
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Message:
    """A consumed message. `key` / `payload` are None for Kafka's null key / value."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    payload: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp_ms: int
    message_id: str

    @classmethod
    def from_pb(cls, message: pb.Message) -> Message:
        headers = message.headers
        return cls(
            message.topic,
            message.partition,
            message.offset,
            message.key if message.HasField("key") else None,
            message.payload if message.HasField("payload") else None,
            tuple((h.key, h.value if h.HasField("value") else None) for h in headers)
            if headers
            else (),
            message.timestamp_ms,
            message.message_id,
        )

    @property
    def value(self) -> bytes | None:
        """Kafka's name for the payload."""
        return self.payload
