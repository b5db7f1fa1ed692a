"""Which broker owns which partition: the static layout of the original Rafka's multi-broker
mode, behind a small interface a replicated cluster can later implement instead.

In that mode every broker is started with `--partition P --total-partitions N --peers ...`:
every topic has N partitions, broker P owns partition P of every topic, and `peers` lists the
brokers' gRPC addresses in partition order (peer i owns partition i and has broker id i). A
broker keeps the other partitions' logs empty and refuses writes and reads for them, naming the
owner, so a client can route by key. Without `--total-partitions` (the default) the broker is a
single node that owns every partition of every topic.

Front doors ask a `ClusterLayout`; nothing here knows a wire protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rafka.broker.errors import NotOwnerError


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    broker_id: int
    host: str
    port: int  # the gRPC port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class ClusterLayout(Protocol):
    """What front doors need to know about partition ownership."""

    @property
    def total_partitions(self) -> int:
        """Partitions every topic has in multi-broker mode; 0 for a single node."""
        ...

    @property
    def brokers(self) -> tuple[BrokerEndpoint, ...]:
        """Every broker this one knows of (itself included when its address is known)."""
        ...

    @property
    def this_broker_id(self) -> int | None:
        """This broker's id in the layout (None: a single node, whose id is its own)."""
        ...

    def owner_id(self, partition: int) -> int:
        """Broker id owning `partition` of any topic."""
        ...

    def owns(self, partition: int) -> bool: ...

    def owned(self, partitions: int) -> list[int]:
        """The partitions, of a topic with `partitions`, this broker owns."""
        ...

    def check_owner(self, topic: str, partition: int) -> None:
        """Raise NotOwnerError naming the owner unless this broker owns the partition."""
        ...


def parse_peers(text: str) -> list[tuple[str, int]]:
    """`host:port,host:port,...` -> [(host, port)]. Raises ValueError naming a bad entry."""
    peers: list[tuple[str, int]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"peer {item!r} is not host:port")
        peers.append((host, int(port)))
    return peers


class StaticLayout:
    """The original's layout: broker `partition` of `total_partitions` owns that partition.

    `total_partitions` 0 means a single node owning everything.
    """

    def __init__(
        self,
        partition: int = -1,
        total_partitions: int = 0,
        peers: list[tuple[str, int]] | None = None,
        self_endpoint: tuple[str, int] | None = None,
    ) -> None:
        peers = peers or []
        if total_partitions < 0:
            raise ValueError(f"total partitions must be >= 0, got {total_partitions}")
        if total_partitions and not 0 <= partition < total_partitions:
            raise ValueError(
                f"partition {partition} is not one of the {total_partitions} partitions"
            )
        if total_partitions and peers and len(peers) != total_partitions:
            raise ValueError(
                f"{len(peers)} peers given for {total_partitions} partitions; list one gRPC "
                "address per partition, in partition order"
            )
        self._total = total_partitions
        self._partition = partition if total_partitions else -1
        self._peers = [BrokerEndpoint(i, host, port) for i, (host, port) in enumerate(peers)]
        self._self_endpoint = self_endpoint

    @property
    def total_partitions(self) -> int:
        return self._total

    @property
    def this_partition(self) -> int:
        return self._partition

    @property
    def this_broker_id(self) -> int | None:
        return self._partition if self._total else None

    def set_self_endpoint(self, host: str, port: int) -> None:
        """The bound gRPC address, once known (a port of 0 is only known after binding)."""
        self._self_endpoint = (host, port)

    @property
    def brokers(self) -> tuple[BrokerEndpoint, ...]:
        if self._peers:
            return tuple(self._peers)
        if self._self_endpoint is None:
            return ()
        host, port = self._self_endpoint
        return (BrokerEndpoint(max(self._partition, 0), host, port),)

    def owner_id(self, partition: int) -> int:
        return partition if self._total else max(self._partition, 0)

    def owns(self, partition: int) -> bool:
        return not self._total or partition == self._partition

    def owned(self, partitions: int) -> list[int]:
        if not self._total:
            return list(range(partitions))
        return [self._partition] if self._partition < partitions else []

    def owner_address(self, partition: int) -> str | None:
        owner = self.owner_id(partition)
        for broker in self.brokers:
            if broker.broker_id == owner:
                return broker.address
        return None

    def check_owner(self, topic: str, partition: int) -> None:
        if self.owns(partition):
            return
        owner = self.owner_id(partition)
        address = self.owner_address(partition)
        where = f" at {address}" if address else " (this broker was started without --peers)"
        raise NotOwnerError(
            f"partition {partition} of topic {topic!r} is owned by broker {owner}{where}; "
            f"this is broker {self._partition}"
        )
