"""The asynchronous consumer: Consume streams, offsets committed for you, reconnects.

    async with Consumer("127.0.0.1:50051", consumer_id="c1") as consumer:
        await consumer.subscribe("my-topic")
        async for message in consumer.consume("my-topic"):
            print(message.offset, message.payload)

The consumer id is the consumer's identity on the broker: its committed offsets are stored
under it (in the same durable store as Kafka group commits), so a consumer that comes back
with the same id resumes after the last message it committed, and one consumer's commits or
acknowledgements never touch another's.

Commit modes: "batch" (default) commits a batch's offsets once the loop asks for the message
after it, i.e. once the whole batch has been handled; "interval" commits every
`commit_interval_s` in the background; "manual" leaves it to `commit()` / `acknowledge()`.
Either way `close()` commits what was handled.

Reconnects: when a stream breaks with UNAVAILABLE (a broker restart), the consumer reopens it
after a growing backoff, starting each partition right after the last message it handed out,
so nothing is skipped or repeated. In multi-broker mode it keeps one stream per broker and
merges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TypeVar

import grpc

from rafka.client.cluster import Cluster, with_retries
from rafka.client.errors import ClientClosedError, RafkaError
from rafka.client.types import Message
from rafka.server.grpc.gen import rafka_pb2 as pb

if TYPE_CHECKING:
    from rafka.server.grpc.gen.rafka_pb2_grpc import BrokerServiceAsyncStub

logger = logging.getLogger("rafka.client")
T = TypeVar("T")

Start = Literal["committed", "earliest", "latest"] | int
CommitMode = Literal["batch", "interval", "manual"]
_QUEUE_BATCHES = 4

_STARTS = {
    "committed": pb.START_POSITION_COMMITTED,
    "earliest": pb.START_POSITION_EARLIEST,
    "latest": pb.START_POSITION_LATEST,
}


class _StreamEnded:
    """Put on the merge queue by a reader that stopped for good (with its error)."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Consumer:
    def __init__(
        self,
        brokers: str | Sequence[str] = "127.0.0.1:50051",
        consumer_id: str | None = None,
        *,
        group: str = "",
        start: Start = "committed",
        commit: CommitMode = "batch",
        commit_interval_s: float = 5.0,
        max_batch: int = 500,
        reconnect_backoff_s: float = 0.1,
        max_reconnect_backoff_s: float = 5.0,
        request_timeout_s: float = 30.0,
    ) -> None:
        if commit not in ("batch", "interval", "manual"):
            raise ValueError(f"commit must be batch, interval or manual, got {commit!r}")
        self.cluster = Cluster(brokers)
        # Without an id, offsets cannot be resumed: each run is a new consumer.
        self.consumer_id = consumer_id or f"consumer-{uuid.uuid4().hex[:12]}"
        self.group = group
        self.start_at = start
        self.commit_mode = commit
        self.commit_interval_s = commit_interval_s
        self.max_batch = max_batch
        self.reconnect_backoff_s = reconnect_backoff_s
        self.max_reconnect_backoff_s = max_reconnect_backoff_s
        self.request_timeout_s = request_timeout_s
        self.topics: list[str] = []
        # Next offset to hand out, per (topic, partition): what a reconnect resumes from.
        self.positions: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._interval_task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> Consumer:
        if not self._started:
            await self.cluster.refresh()
            await self._stub_default().Register(
                pb.RegisterRequest(
                    client_id=self.consumer_id, client_type=pb.CLIENT_TYPE_CONSUMER
                ),
                timeout=self.request_timeout_s,
            )
            if self.commit_mode == "interval":
                self._interval_task = asyncio.create_task(self._commit_every())
            self._started = True
        return self

    async def __aenter__(self) -> Consumer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._interval_task is not None:
            self._interval_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._interval_task
        try:
            if self.commit_mode != "manual":
                await self.commit()
        except RafkaError as exc:
            logger.warning("final commit of %s failed: %s", self.consumer_id, exc)
        finally:
            await self.cluster.close()

    def _stub_default(self) -> BrokerServiceAsyncStub:
        return self.cluster.stub(self.cluster.default_address)

    def _retry(self, call: Callable[[int], Awaitable[T]], what: str) -> Awaitable[T]:
        return with_retries(
            call, 8, self.reconnect_backoff_s, self.max_reconnect_backoff_s, what=what
        )

    # ------------------------------------------------------------ subscribing

    async def subscribe(self, topic: str) -> int:
        """Subscribe this consumer id to a topic (on every broker); returns its partitions."""
        if not self._started:
            await self.start()
        addresses = (
            list(self.cluster.addresses_by_owner())
            if self.cluster.total_partitions
            else [self.cluster.default_address]
        )
        partitions = 0
        request = pb.SubscribeRequest(consumer_id=self.consumer_id, topic=topic)
        for address in addresses:
            stub = self.cluster.stub(address)
            response = await self._retry(
                lambda attempt, stub=stub: stub.Subscribe(  # type: ignore[misc]
                    request, timeout=self.request_timeout_s, wait_for_ready=attempt > 0
                ),
                f"subscribe at {address}",
            )
            partitions = max(partitions, response.partitions)
        if topic not in self.topics:
            self.topics.append(topic)
        return partitions

    # ------------------------------------------------------------ consuming

    async def consume(
        self, topic: str | None = None, *, partitions: Sequence[int] = ()
    ) -> AsyncGenerator[Message, None]:
        """Messages of `topic` (default: the subscribed topics), stored ones first, then live
        ones as they arrive, until the loop stops."""
        if self._closed:
            raise ClientClosedError("the consumer is closed")
        if not self._started:
            await self.start()
        topics = [topic] if topic else list(self.topics)
        if not topics:
            raise ValueError("no topic: pass one or subscribe first")
        queue: asyncio.Queue[list[Message] | _StreamEnded] = asyncio.Queue(_QUEUE_BATCHES)
        readers = [
            asyncio.create_task(self._read(address, topics, wanted, queue))
            for address, wanted in self._streams(partitions)
        ]
        running = len(readers)
        try:
            while running:
                item = await queue.get()
                if isinstance(item, _StreamEnded):
                    running -= 1
                    if item.error is not None:
                        raise item.error
                    continue
                for message in item:
                    key = (message.topic, message.partition)
                    if message.offset < self.positions.get(key, -1):
                        continue  # already handed out before a reconnect
                    self.positions[key] = message.offset + 1
                    yield message
                if self.commit_mode == "batch":
                    await self.commit()
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    def _streams(self, partitions: Sequence[int]) -> list[tuple[str, list[int]]]:
        if not self.cluster.total_partitions:
            return [(self.cluster.default_address, list(partitions))]
        streams = []
        for address, owned in self.cluster.addresses_by_owner().items():
            wanted = [p for p in owned if not partitions or p in partitions]
            if wanted:
                streams.append((address, wanted))
        return streams

    def _request(self, topics: list[str], partitions: list[int]) -> pb.ConsumeRequest:
        request = pb.ConsumeRequest(
            consumer_id=self.consumer_id,
            group=self.group,
            topic=topics[0] if len(topics) == 1 else "",
            partitions=partitions,
            max_batch=self.max_batch,
        )
        if isinstance(self.start_at, int):
            request.start = pb.START_POSITION_OFFSET
            request.offset = self.start_at
        else:
            request.start = _STARTS[self.start_at]
        if len(topics) == 1:
            for (name, partition), offset in self.positions.items():
                if name == topics[0] and (not partitions or partition in partitions):
                    request.partition_offsets[partition] = offset
        return request

    async def _read(
        self,
        address: str,
        topics: list[str],
        partitions: list[int],
        queue: asyncio.Queue[list[Message] | _StreamEnded],
    ) -> None:
        """Feed one broker's stream into the merge queue, reconnecting on UNAVAILABLE; end
        with a `_StreamEnded` (carrying the error, if any) unless cancelled."""
        error: BaseException | None = None
        try:
            await self._follow(address, topics, partitions, queue)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
        await queue.put(_StreamEnded(error))

    async def _follow(
        self,
        address: str,
        topics: list[str],
        partitions: list[int],
        queue: asyncio.Queue[list[Message] | _StreamEnded],
    ) -> None:
        backoff = self.reconnect_backoff_s
        while True:
            request = self._request(topics, partitions)
            call = self.cluster.stub(address).Consume(request, wait_for_ready=True)
            try:
                async for response in call:
                    backoff = self.reconnect_backoff_s
                    await queue.put([Message.from_pb(m) for m in response.messages])
                return  # the broker ended the stream without an error
            except grpc.aio.AioRpcError as exc:
                error = RafkaError.from_rpc(exc)
                if not error.retriable:
                    raise error from exc
                logger.info(
                    "stream from %s broke (%s); reconnecting in %.1f s", address, error, backoff
                )
            finally:
                call.cancel()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_reconnect_backoff_s)

    # ------------------------------------------------------------ offsets

    async def commit(self) -> None:
        """Store the position of every partition that moved since the last commit."""
        for key, offset in list(self.positions.items()):
            if self._committed.get(key) == offset:
                continue
            topic, partition = key
            stub = self.cluster.stub(self._address_for(partition))
            request = pb.UpdateOffsetRequest(
                consumer_id=self.consumer_id,
                group=self.group,
                topic=topic,
                partition=partition,
                offset=offset,
            )
            await self._retry(
                lambda attempt, stub=stub, request=request: stub.UpdateOffset(  # type: ignore[misc]
                    request, timeout=self.request_timeout_s, wait_for_ready=attempt > 0
                ),
                "commit",
            )
            self._committed[key] = offset

    async def acknowledge(self, message: Message) -> int:
        """Mark one message processed for this consumer; returns the committed offset."""
        stub = self.cluster.stub(self._address_for(message.partition))
        request = pb.AcknowledgeRequest(
            consumer_id=self.consumer_id, group=self.group, message_id=message.message_id
        )
        response = await self._retry(
            lambda attempt: stub.Acknowledge(
                request, timeout=self.request_timeout_s, wait_for_ready=attempt > 0
            ),
            "acknowledge",
        )
        self._committed[(message.topic, message.partition)] = response.committed_offset
        return response.committed_offset

    def _address_for(self, partition: int) -> str:
        if self.cluster.total_partitions:
            return self.cluster.owner(partition)
        return self.cluster.default_address

    async def _commit_every(self) -> None:
        while True:
            await asyncio.sleep(self.commit_interval_s)
            try:
                await self.commit()
            except RafkaError as exc:
                logger.warning("periodic commit of %s failed: %s", self.consumer_id, exc)
