"""Channels to the brokers, and which broker owns which partition.

A single-node broker owns every partition: everything goes to it and it picks partitions.
In the original's multi-broker mode (`GetMetadata().total_partitions` > 0) broker i owns
partition i of every topic; the client then picks the partition itself (an explicit one,
murmur2 of the key as Kafka's default partitioner, or round-robin) and sends the message to
that partition's owner. Owners are learned from every bootstrap broker's GetMetadata, so it
works whether or not the brokers were told about each other with `--peers`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import grpc

from rafka.client.errors import RafkaError
from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.gen import rafka_pb2_grpc

logger = logging.getLogger("rafka.client")
T = TypeVar("T")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Reconnect quickly after a broker restart (the default backoff grows to 120 s).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]
if TYPE_CHECKING:  # only the .pyi (mypy-protobuf) names the async stub's type
    from rafka.server.grpc.gen.rafka_pb2_grpc import BrokerServiceAsyncStub as Stub


def parse_brokers(brokers: str | Sequence[str]) -> list[str]:
    """`"h:p,h:p"` or a list of addresses -> a list of `host:port`."""
    items = brokers.split(",") if isinstance(brokers, str) else list(brokers)
    addresses = [item.strip() for item in items if item.strip()]
    if not addresses:
        raise ValueError("no broker address given")
    for address in addresses:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"broker address {address!r} is not host:port")
    return addresses


class Cluster:
    def __init__(self, brokers: str | Sequence[str]) -> None:
        self.bootstrap = parse_brokers(brokers)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.total_partitions = 0
        self.owners: dict[int, str] = {}  # partition -> owner address (multi-broker mode)
        self.topic_partitions: dict[str, int] = {}

    def stub(self, address: str) -> Stub:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.aio.insecure_channel(
                address, options=CHANNEL_OPTIONS
            )
        return rafka_pb2_grpc.BrokerServiceStub(channel)

    @property
    def default_address(self) -> str:
        return self.bootstrap[0]

    async def refresh(self, timeout_s: float = 10.0) -> None:
        """Ask every bootstrap broker who it is and what it owns (at least one must answer)."""
        answers = await asyncio.gather(
            *(self._metadata(address, timeout_s) for address in self.bootstrap),
            return_exceptions=True,
        )
        reachable = [
            (address, answer)
            for address, answer in zip(self.bootstrap, answers, strict=True)
            if isinstance(answer, pb.GetMetadataResponse)
        ]
        if not reachable:
            failure = answers[0]
            if isinstance(failure, RafkaError):
                raise failure
            raise RafkaError(grpc.StatusCode.UNAVAILABLE, f"no broker reachable: {failure}")
        # Prefer a broker that answers for single-node routing.
        self.bootstrap.sort(key=lambda a: a not in dict(reachable))
        owners: dict[int, str] = {}
        for _, answer in reachable:
            self.total_partitions = max(self.total_partitions, answer.total_partitions)
            for broker in answer.brokers:
                for partition in broker.partitions:
                    owners.setdefault(partition, f"{broker.host}:{broker.port}")
            for topic in answer.topics:
                self.topic_partitions[topic.name] = topic.partitions
        for address, answer in reachable:
            if answer.total_partitions:
                # The address we reached it by wins over what it advertises.
                owners[answer.this_broker_id] = address
        self.owners = owners

    async def _metadata(self, address: str, timeout_s: float) -> pb.GetMetadataResponse:
        try:
            return await self.stub(address).GetMetadata(
                pb.GetMetadataRequest(), timeout=timeout_s, wait_for_ready=True
            )
        except grpc.aio.AioRpcError as exc:
            raise RafkaError.from_rpc(exc) from exc

    def owner(self, partition: int) -> str:
        address = self.owners.get(partition)
        if address is None:
            raise RafkaError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"no known broker owns partition {partition}; list every broker in the "
                "bootstrap addresses",
            )
        return address

    def addresses_by_owner(self) -> dict[str, list[int]]:
        """Multi-broker mode: address -> the partitions it owns."""
        grouped: dict[str, list[int]] = {}
        for partition in range(self.total_partitions):
            grouped.setdefault(self.owner(partition), []).append(partition)
        return grouped

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        await asyncio.gather(*(c.close() for c in channels.values()), return_exceptions=True)


async def with_retries(
    call: Callable[[int], Awaitable[T]],
    retries: int,
    backoff_s: float,
    max_backoff_s: float = 5.0,
    what: str = "call",
) -> T:
    """`call(attempt)` until it succeeds, retrying UNAVAILABLE with a doubling backoff.

    Raises RafkaError (the last one) when it fails otherwise or runs out of retries."""
    attempt = 0
    while True:
        try:
            return await call(attempt)
        except grpc.aio.AioRpcError as exc:
            error = RafkaError.from_rpc(exc)
            if not error.retriable or attempt >= retries:
                raise error from exc
            attempt += 1
            logger.info("%s failed (%s); retry %d in %.1f s", what, error, attempt, backoff_s)
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, max_backoff_s)
