"""One Kafka client connection: bytes in, frames decoded, handlers called, responses out in order.

Kafka clients pipeline requests and rely on responses coming back in request order. Handlers
run as soon as their frame is decoded (so produce appends keep the order they were sent in);
handlers that must wait (long-poll fetches, produce waiting for an fsync) leave a slot in the
response queue, and a response is written only once every response before it has been.

Backpressure: when too many responses are outstanding, or the socket's write buffer is full,
the connection stops reading until it drains, so one slow client cannot grow broker memory.

Speed: the socket reads straight into the frame decoder's buffer (`asyncio.BufferedProtocol`),
so a produce request's bytes are not copied on their way to the handler; and responses
answered while one read's frames are handled go out in a single `writelines()`, one send for
a burst of pipelined requests instead of one each. Every write goes through `ResponseWriter`,
which `sendfile`s the segment-file runs large Fetch responses carry (`writer.py`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import socket
from collections import deque
from collections.abc import Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any, cast

from rafka.protocol import (
    FrameDecoder,
    FramingError,
    RequestError,
    ResponseChunk,
    UnknownApiKeyError,
    UnsupportedVersionError,
    decode_request,
    encode_api_versions_fallback,
    encode_response,
)
from rafka.server.kafka.context import (
    AnswerLater,
    ConnectionState,
    PreEncoded,
    RequestContext,
)
from rafka.server.kafka.eager import step_eagerly
from rafka.server.kafka.writer import ResponseWriter

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor

logger = logging.getLogger("rafka.server.kafka")

API_VERSIONS_KEY = 18
UNKNOWN_SERVER_ERROR = -1
MAX_IN_FLIGHT = 128


class _Slot:
    """A response position in the connection's output order."""

    __slots__ = ("chunks", "ready")

    def __init__(self) -> None:
        self.chunks: Sequence[ResponseChunk] | None = None
        self.ready = False


class KafkaConnection(asyncio.BufferedProtocol):
    def __init__(
        self, door: KafkaFrontDoor, max_request_bytes: int, connections: set[KafkaConnection]
    ) -> None:
        self._door = door
        self._decoder = FrameDecoder(max_request_bytes)
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._writer: ResponseWriter | None = None
        self._pending: deque[_Slot] = deque()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._reading_paused = False
        self._writing_paused = False
        self._closing = False
        # Responses ready while a read's frames are being handled, written together after.
        self._out: list[ResponseChunk] | None = None
        self.state = ConnectionState(peer="?")

    # ---------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport quacks like asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._writer = ResponseWriter(self._transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.state.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._connections.add(self)
        self._door.connections_total += 1
        self._door.connections_open += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._door.connections_open -= 1
        self._closing = True
        self._connections.discard(self)
        for task in list(self._tasks):
            task.cancel()
        self._pending.clear()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._decoder.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self._decoder.buffer_updated(nbytes)
        self._handle_buffered()

    def data_received(self, data: bytes) -> None:
        """Bytes from a transport that does not support BufferedProtocol (tests, TLS later)."""
        if self._closing:
            return
        try:
            self._decoder.feed(data)
        except FramingError as exc:
            self._abort(f"bad framing: {exc}")
            return
        self._handle_buffered()

    def _handle_buffered(self) -> None:
        if self._closing or self._out is not None:
            return  # already inside this loop (a resume_reading from within a handler)
        decoder = self._decoder
        out: list[ResponseChunk] = []
        self._out = out
        try:
            while not self._closing and (frame := decoder.next_frame()) is not None:
                self._handle_frame(frame)
        except FramingError as exc:
            self._abort(f"bad framing: {exc}")
        finally:
            self._out = None
        if out and not self._closing:
            self._write(out)
        self._update_reading()

    # ---------------------------------------------------------------- requests

    def _handle_frame(self, frame: bytes | memoryview) -> None:
        door = self._door
        try:
            request = decode_request(frame, door.supported)
        except UnsupportedVersionError as exc:
            if exc.api_key == API_VERSIONS_KEY:
                # Clients newer than us start with a version we lack; Kafka answers in v0
                # format with UNSUPPORTED_VERSION and our ranges so they can retry.
                self._enqueue_ready(
                    encode_api_versions_fallback(exc.correlation_id, door.supported)
                )
                return
            self._abort(f"unsupported version: {exc}")
            return
        except UnknownApiKeyError as exc:
            self._abort(str(exc))
            return
        except RequestError as exc:
            self._abort(f"undecodable request: {exc}")
            return

        # decode_request only returns what door.supported (built from door.apis) allows.
        spec = door.apis[request.api_key]
        if not self.state.authenticated and not spec.before_auth:
            self._abort(f"{spec.name} before authentication")
            return

        ctx = RequestContext(
            request.api_key,
            request.api_version,
            request.correlation_id,
            request.client_id,
            self.state,
        )
        started = perf_counter()
        try:
            result = spec.handler(door, ctx, request.body)
        except Exception:
            self._handler_failed(spec.name, ctx, started)
            return
        if type(result) is PreEncoded:  # the hot paths: Produce, a Fetch with data
            self._enqueue_ready(result.chunks)
            door.requests.finished(request.api_key, started, result)
            return
        if result is None:
            door.requests.finished(request.api_key, started, None)
            return
        if type(result) is AnswerLater:  # a parked fetch: answered when its read settles it
            slot = _Slot()
            self._pending.append(slot)
            self._tasks.add(
                result.start(
                    functools.partial(self._finished, slot=slot, ctx=ctx, started=started)
                )
            )
            return
        if inspect.iscoroutine(result):
            try:
                finished, result = step_eagerly(result)
            except Exception:
                self._handler_failed(spec.name, ctx, started)
                return
            if finished:
                if result is not None:
                    self._enqueue_ready(self._encode(ctx, result))
                door.requests.finished(request.api_key, started, result)
                return
        if inspect.isawaitable(result):
            slot = _Slot()
            self._pending.append(slot)
            task = asyncio.ensure_future(result)  # a future (a fetch's long poll) as it is
            self._tasks.add(task)
            task.add_done_callback(
                functools.partial(self._finished, slot=slot, ctx=ctx, started=started)
            )
            return
        self._enqueue_ready(self._encode(ctx, result))
        door.requests.finished(request.api_key, started, result)

    def _handler_failed(self, name: str, ctx: RequestContext, started: float) -> None:
        """A handler raised (called from its `except`): log it, count it, drop the client,
        which cannot get an answer in order any more."""
        logger.exception("%s v%d from %s failed", name, ctx.api_version, self.state.peer)
        self._door.requests.failed(ctx.api_key, started, UNKNOWN_SERVER_ERROR)
        self._abort("handler error")

    def _encode(self, ctx: RequestContext, result: Any) -> Sequence[ResponseChunk]:
        if isinstance(result, PreEncoded):
            return result.chunks
        return encode_response(ctx.correlation_id, ctx.api_key, ctx.api_version, result)

    def _finished(
        self, task: asyncio.Future[Any], *, slot: _Slot, ctx: RequestContext, started: float
    ) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self._closing:
            return
        exc = task.exception()
        if exc is not None:
            self._door.requests.failed(ctx.api_key, started, UNKNOWN_SERVER_ERROR)
            logger.error(
                "api %d v%d from %s failed",
                ctx.api_key,
                ctx.api_version,
                self.state.peer,
                exc_info=exc,
            )
            self._abort("handler error")
            return
        result = task.result()
        self._door.requests.finished(ctx.api_key, started, result)
        if result is not None:
            try:
                slot.chunks = self._encode(ctx, result)
            except Exception:
                logger.exception("encoding api %d v%d failed", ctx.api_key, ctx.api_version)
                self._abort("encoding error")
                return
        slot.ready = True
        self._flush_ready()

    # ---------------------------------------------------------------- responses

    def _enqueue_ready(self, chunks: Sequence[ResponseChunk]) -> None:
        if not self._pending and self._transport is not None:
            if self._out is not None:
                self._out.extend(chunks)  # written at the end of _handle_buffered
            else:
                self._write(chunks)
            return
        slot = _Slot()
        slot.chunks, slot.ready = chunks, True
        self._pending.append(slot)
        self._flush_ready()

    def _flush_ready(self) -> None:
        transport = self._transport
        pending = self._pending
        if self._out and transport is not None and not self._closing:
            # Earlier responses of this read go first.
            self._write(self._out)
            self._out.clear()
        while pending and pending[0].ready:
            slot = pending.popleft()
            if slot.chunks is not None and transport is not None and not self._closing:
                self._write(slot.chunks)
        self._update_reading()

    def _write(self, chunks: Sequence[ResponseChunk]) -> None:
        if self._writer is None or self._closing:
            return
        try:
            self._writer.write(chunks)
        except OSError as exc:
            self._abort(f"write failed: {exc}")

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        should_pause = self._writing_paused or len(self._pending) >= MAX_IN_FLIGHT
        if should_pause and not self._reading_paused:
            transport.pause_reading()
            self._reading_paused = True
        elif not should_pause and self._reading_paused:
            transport.resume_reading()
            self._reading_paused = False
            # Frames may already be buffered; handle them without waiting for more bytes.
            self._handle_buffered()

    def _abort(self, reason: str) -> None:
        if self._closing:
            return
        logger.warning("closing connection from %s: %s", self.state.peer, reason)
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def close(self) -> None:
        """Close after writing what is already queued (broker shutdown)."""
        self._closing = True
        if self._transport is not None:
            self._transport.close()
