"""One Consume stream: replay a topic's partitions from the stored log, then follow appends.

Reads go through `Partition.log.read` (whole batches, as stored) and records are decoded only
here, at the gRPC boundary, straight into the response's protobuf bytes
(`wire.MessageWriter`: no `Record` and no `pb.Message` per record). Flow control: the stream
is an async generator, and grpc.aio asks it for the next response only once the previous one
has been handed to HTTP/2, whose per-stream window stops the sender when the client does not
read. So a stream holds at most one read (`READ_BYTES`, or one larger batch) plus the responses
cut from it, however slow its client: broker memory does not grow with the backlog.

When every partition is caught up the stream parks on the partitions' waiter lists (as a Kafka
fetch does) until an append wakes it, the broker starts shutting down, or `IDLE_RECHECK_S`
passes (to notice a deleted topic). It never polls the log in a loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc

from rafka.broker import Broker, Partition
from rafka.broker.cluster import ClusterLayout
from rafka.broker.groups import GroupCoordinator
from rafka.records import iter_batches
from rafka.records.builder import records_section
from rafka.server.grpc.errors import RpcError, group_error, invalid
from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.wire import MessageWriter

DEFAULT_MAX_BATCH = 500
MAX_BATCH_LIMIT = 10_000
READ_BYTES = 256 * 1024
IDLE_RECHECK_S = 1.0
_CONTROL_BIT = 0x20

Key = tuple[str, int]


@dataclass(slots=True)
class StreamSettings:
    topics: list[str]
    group: str  # whose committed offsets to start from ("" for none)
    max_batch: int


class ShutdownSignal:
    """Lets the listener end every parked stream at once when the broker stops."""

    def __init__(self) -> None:
        self.closing = False
        self._wakers: set[Callable[[], None]] = set()

    def add(self, wake: Callable[[], None]) -> None:
        self._wakers.add(wake)

    def discard(self, wake: Callable[[], None]) -> None:
        self._wakers.discard(wake)

    def close(self) -> None:
        self.closing = True
        for wake in list(self._wakers):
            wake()

    def check(self) -> None:
        if self.closing:
            raise RpcError(grpc.StatusCode.UNAVAILABLE, "the broker is shutting down")


def stream_settings(request: pb.ConsumeRequest, topics: list[str]) -> StreamSettings:
    max_batch = request.max_batch or DEFAULT_MAX_BATCH
    if not 0 < max_batch <= MAX_BATCH_LIMIT:
        raise invalid(f"max_batch must be between 1 and {MAX_BATCH_LIMIT}, got {max_batch}")
    return StreamSettings(topics, request.group or request.consumer_id, max_batch)


class ConsumeStream:
    def __init__(
        self,
        broker: Broker,
        groups: GroupCoordinator,
        layout: ClusterLayout,
        shutdown: ShutdownSignal,
        request: pb.ConsumeRequest,
        settings: StreamSettings,
    ) -> None:
        self.broker = broker
        self.groups = groups
        self.layout = layout
        self.shutdown = shutdown
        self.settings = settings
        self.positions: dict[Key, int] = self._start_positions(request)
        self._writers = {key: MessageWriter(*key) for key in self.positions}

    # ------------------------------------------------------------ where to start

    def _partitions(self, request: pb.ConsumeRequest) -> list[Key]:
        keys: list[Key] = []
        for name in self.settings.topics:
            topic = self.broker.get_or_create_topic(name)
            count = len(topic.partitions)
            wanted = list(request.partitions) or self.layout.owned(count)
            for number in wanted:
                if not 0 <= number < count:
                    raise RpcError(
                        grpc.StatusCode.NOT_FOUND,
                        f"topic {name!r} has no partition {number} (it has {count})",
                    )
                self.layout.check_owner(name, number)
                keys.append((name, number))
        if not keys:
            raise RpcError(
                grpc.StatusCode.FAILED_PRECONDITION,
                "this broker owns none of the requested partitions",
            )
        return keys

    def _start_positions(self, request: pb.ConsumeRequest) -> dict[Key, int]:
        keys = self._partitions(request)
        start = request.start or pb.START_POSITION_COMMITTED
        committed: dict[Key, int] = {}
        if start == pb.START_POSITION_COMMITTED and self.settings.group:
            fetched = self.groups.fetch_offsets(self.settings.group, keys)
            if fetched.error is not None:
                raise group_error(fetched.error, self.settings.group)
            committed = {k: c.offset for k, c in fetched.offsets.items() if c is not None}
        if start == pb.START_POSITION_OFFSET and request.offset < 0:
            raise invalid(f"start offset must be >= 0, got {request.offset}")
        positions: dict[Key, int] = {}
        for key in keys:
            log = self.broker.get_partition(*key).log
            if key[1] in request.partition_offsets:
                position = request.partition_offsets[key[1]]
            elif start == pb.START_POSITION_EARLIEST:
                position = log.log_start_offset
            elif start == pb.START_POSITION_LATEST:
                position = log.high_watermark
            elif start == pb.START_POSITION_OFFSET:
                position = request.offset
            else:
                position = committed.get(key, log.log_start_offset)
            # Data below the log start is gone (retention); beyond the end was never written.
            positions[key] = min(max(position, log.log_start_offset), log.high_watermark)
        return positions

    # ------------------------------------------------------------ streaming

    async def responses(self) -> AsyncIterator[bytes]:
        keys = list(self.positions)
        turn = 0
        while True:
            self.shutdown.check()
            sent = False
            # Start each round at the next partition, so no partition starves the others.
            for key in keys[turn:] + keys[:turn]:
                partition = self.broker.get_partition(*key)
                pieces = self._read(partition, key)
                if not pieces:
                    continue
                sent = True
                # Two pieces per message (see MessageWriter.write). The joined pieces are a
                # serialized ConsumeResponse, handed to grpc as they are
                # (rafka/server/grpc/preserialized.py).
                step = 2 * self.settings.max_batch
                for first in range(0, len(pieces), step):
                    yield b"".join(pieces[first : first + step])
            turn = (turn + 1) % len(keys)
            if not sent:
                await self._wait([self.broker.get_partition(*key) for key in keys])

    def _read(self, partition: Partition, key: Key) -> list[bytes]:
        """The next messages of the partition as serialized `ConsumeResponse.messages`
        entries, two pieces per message (`MessageWriter.write`)."""
        log = partition.log
        high_watermark = log.high_watermark
        position = min(max(self.positions[key], log.log_start_offset), high_watermark)
        if position >= high_watermark:
            self.positions[key] = position
            return []
        read = log.read(position, READ_BYTES, max_offset=high_watermark)
        # Copy now: memoryviews into the log are only valid until the next append.
        data = b"".join(read.chunks)
        partition.bytes_out += read.size
        pieces: list[bytes] = []
        written = 0
        writer = self._writers[key]
        next_position = position
        for where, header in iter_batches(data):
            next_position = header.next_offset
            if header.attributes & _CONTROL_BIT:
                continue  # transaction markers are not messages
            checked, section = records_section(data, where)
            written += writer.write(section, checked, position, pieces)
        self.positions[key] = max(next_position, position)
        partition.messages_out += written
        return pieces

    async def _wait(self, partitions: list[Partition]) -> None:
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        for partition in partitions:
            partition.add_waiter(wake)
        self.shutdown.add(wake)
        try:
            await asyncio.wait_for(woken, IDLE_RECHECK_S)
        except TimeoutError:
            pass
        finally:
            self.shutdown.discard(wake)
            for partition in partitions:
                partition.remove_waiter(wake)
