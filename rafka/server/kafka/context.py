"""What a Kafka request handler is given besides the request itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kio.index import load_response_schema

from rafka.protocol import ResponseChunk
from rafka.server.kafka.entities import build

NO_THROTTLE = timedelta(0)


@dataclass(slots=True)
class ConnectionState:
    """Per-connection facts. `principal` is where SASL will record who authenticated; until
    security exists every connection is the anonymous user, authenticated from the start."""

    peer: str
    principal: str = "User:ANONYMOUS"
    authenticated: bool = True
    client_software: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RequestContext:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    connection: ConnectionState

    def response(self, data: Mapping[str, Any]) -> Any:
        """Build this request's response entity, at this request's version, from `data`."""
        return build(load_response_schema(self.api_key, self.api_version), data)


@dataclass(slots=True)  # one per Produce/Fetch response: not frozen, for a cheaper __init__
class PreEncoded:
    """A whole response frame already encoded as chunks (size prefix and header included),
    for responses built by hand for speed (Fetch) so record bytes are never copied."""

    chunks: Sequence[ResponseChunk]


@dataclass(slots=True)
class AnswerLater:
    """A response that a callback-driven wait will produce: a parked fetch's long poll.

    `start(on_settled)` returns the future of the response (or of the handler's failure) and
    calls `on_settled(future)` from the very callback that settles it (not if the future is
    cancelled), so the connection writes the answer without waiting a loop turn for the
    future's done callbacks (`rafka.broker.fetch.LongPoll.then`).
    """

    start: Callable[[Callable[[asyncio.Future[Any]], None]], asyncio.Future[Any]]


# What a handler may return: an entity, pre-encoded chunks, None (no response: Produce with
# acks=0), an awaitable of one of those (produce waiting for an fsync, group joins), or an
# AnswerLater (long-poll fetches).
HandlerResult = Any | PreEncoded | None | Awaitable[Any] | AnswerLater
