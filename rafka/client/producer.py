"""The asynchronous producer: batches messages per broker and publishes them with PublishBatch.

    async with Producer("127.0.0.1:50051") as producer:
        receipt = await producer.publish("my-topic", b"Hello", key="key-1")  # a future
        await producer.flush()
        print((await receipt).offset)

`publish()` only queues the message and returns an `asyncio.Future[Delivery]`; a sender task
per broker sends what is queued once `batch_size` messages are waiting or `linger_ms` has passed
since the first, one PublishBatch in flight per broker (so messages to one partition keep
their order). Batching is what makes gRPC fast: one call per message costs far more than
the message itself. `publish_and_wait()` is the one-call form.

Retries: a batch that fails with UNAVAILABLE (broker restarting or shutting down) is sent again
after a growing backoff, up to `retries` times. A batch the broker refuses for another reason
is split into single messages so only the bad ones fail (their futures carry the broker's
message, e.g. a topic name it rejects). Delivery is at least once: a batch that was stored
but whose answer was lost is stored again by the retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rafka.client.cluster import Cluster, with_retries
from rafka.client.errors import ClientClosedError, RafkaError
from rafka.client.types import Delivery
from rafka.partitioner import partition_for_key
from rafka.server.grpc.gen import rafka_pb2 as pb

logger = logging.getLogger("rafka.client")

Headers = Mapping[str, bytes | str | None] | Sequence[tuple[str, bytes | str | None]]


def to_bytes(value: bytes | str | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value.encode("utf-8")


@dataclass(slots=True)
class _Queue:
    """Messages waiting for one broker, and the task that sends them."""

    items: list[tuple[pb.PublishRequest, asyncio.Future[Delivery]]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Producer:
    def __init__(
        self,
        brokers: str | Sequence[str] = "127.0.0.1:50051",
        *,
        producer_id: str = "",
        linger_ms: float = 5.0,
        batch_size: int = 1000,
        max_buffered: int = 100_000,
        retries: int = 8,
        retry_backoff_ms: float = 100.0,
        request_timeout_s: float = 30.0,
        route: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.cluster = Cluster(brokers)
        self.producer_id = producer_id
        self.linger_s = max(linger_ms, 0.0) / 1000
        self.batch_size = batch_size
        self.max_buffered = max(max_buffered, batch_size)
        self.retries = retries
        self.retry_backoff_s = retry_backoff_ms / 1000
        self.request_timeout_s = request_timeout_s
        # False: send everything to the first broker as given, even in multi-broker mode.
        self.route = route
        self._queues: dict[str, _Queue] = {}
        self._buffered = 0
        self._space = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._round_robin = itertools.count()
        self._started = False
        self._closed = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> Producer:
        if not self._started:
            await self.cluster.refresh()
            await self.cluster.stub(self.cluster.default_address).Register(
                pb.RegisterRequest(
                    client_id=self.producer_id or "producer",
                    client_type=pb.CLIENT_TYPE_PRODUCER,
                ),
                timeout=self.request_timeout_s,
            )
            self._started = True
        return self

    async def __aenter__(self) -> Producer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def flush(self) -> None:
        """Wait until every message published so far has been answered."""
        for queue in self._queues.values():
            queue.ready.set()  # no more lingering
        await self._idle.wait()

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self.flush()
        finally:
            self._closed = True
            for queue in self._queues.values():
                if queue.task is not None:
                    queue.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await queue.task
                for _, future in queue.items:
                    if not future.done():
                        future.set_exception(ClientClosedError("the producer was closed"))
            await self.cluster.close()

    # ------------------------------------------------------------ publishing

    async def publish(
        self,
        topic: str,
        payload: bytes | str | None,
        key: bytes | str | None = None,
        *,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int = 0,
    ) -> asyncio.Future[Delivery]:
        """Queue one message; returns a future that resolves to where it was stored.

        Waits only when `max_buffered` messages are already queued (backpressure)."""
        if self._closed:
            raise ClientClosedError("the producer is closed")
        if not self._started:
            await self.start()
        while self._buffered >= self.max_buffered:
            self._space.clear()
            await self._space.wait()
        fields: dict[str, Any] = {"topic": topic}
        if self.producer_id:
            fields["producer_id"] = self.producer_id
        payload_bytes = to_bytes(payload)
        if payload_bytes is not None:
            fields["payload"] = payload_bytes
        key_bytes = to_bytes(key)
        if key_bytes is not None:
            fields["key"] = key_bytes
        if headers:
            pairs = headers.items() if isinstance(headers, Mapping) else headers
            fields["headers"] = [
                pb.Header(key=name)
                if value is None
                else pb.Header(key=name, value=to_bytes(value))
                for name, value in pairs
            ]
        if timestamp_ms:
            fields["timestamp_ms"] = timestamp_ms
        request = pb.PublishRequest(**fields)
        address = self._route(request, key_bytes, partition)
        future: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(address)
        if queue is None:
            queue = self._queues[address] = _Queue()
            queue.task = asyncio.create_task(self._send_loop(address, queue))
        queue.items.append((request, future))
        self._buffered += 1
        self._idle.clear()
        if len(queue.items) >= self.batch_size or len(queue.items) == 1:
            queue.ready.set()
        return future

    async def publish_and_wait(
        self,
        topic: str,
        payload: bytes | str | None,
        key: bytes | str | None = None,
        *,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int = 0,
    ) -> Delivery:
        future = await self.publish(
            topic, payload, key, headers=headers, partition=partition, timestamp_ms=timestamp_ms
        )
        return await future

    def _route(self, request: pb.PublishRequest, key: bytes | None, partition: int | None) -> str:
        total = self.cluster.total_partitions
        if not total or not self.route:
            if partition is not None:
                request.partition = partition
            return self.cluster.default_address
        # Multi-broker mode: pick the partition here, send it to its owner.
        if partition is None:
            partition = (
                partition_for_key(key, total)
                if key is not None
                else next(self._round_robin) % total
            )
        request.partition = partition
        return self.cluster.owner(partition)

    # ------------------------------------------------------------ sending

    async def _send_loop(self, address: str, queue: _Queue) -> None:
        while True:
            await queue.ready.wait()
            if len(queue.items) < self.batch_size and self.linger_s > 0:
                # Linger for more messages, unless the batch fills or flush() is called.
                queue.ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(queue.ready.wait(), self.linger_s)
            batch = queue.items[: self.batch_size]
            del queue.items[: self.batch_size]
            if not queue.items:
                queue.ready.clear()
            try:
                await self._send(address, batch)
            finally:
                self._buffered -= len(batch)
                self._space.set()
                if self._buffered == 0:
                    self._idle.set()
                elif queue.items:
                    queue.ready.set()

    async def _send(
        self, address: str, batch: list[tuple[pb.PublishRequest, asyncio.Future[Delivery]]]
    ) -> None:
        try:
            response = await self._call(address, [request for request, _ in batch])
        except RafkaError as exc:
            if len(batch) > 1 and not exc.retriable:
                # Find out which messages the broker refuses: send them one by one, in order.
                for item in batch:
                    await self._send(address, [item])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (request, future), result in zip(batch, response.results, strict=True):
            if not future.done():
                future.set_result(
                    Delivery(
                        request.topic,
                        result.partition,
                        result.offset,
                        result.message_id,
                        result.timestamp_ms,
                    )
                )

    async def _call(
        self, address: str, messages: list[pb.PublishRequest]
    ) -> pb.PublishBatchResponse:
        request = pb.PublishBatchRequest(messages=messages)
        stub = self.cluster.stub(address)
        return await with_retries(
            lambda attempt: stub.PublishBatch(
                request, timeout=self.request_timeout_s, wait_for_ready=attempt > 0
            ),
            self.retries,
            self.retry_backoff_s,
            what=f"publish to {address}",
        )
