"""Which broker owns which partition: the static layout of the original Rafka's multi-broker
mode, behind a small interface a replicated cluster can later implement instead.

In that mode every broker is started with `--partition P --total-partitions N --peers ...`:
every topic has N partitions, broker P owns partition P of every topic, and `peers` lists the
brokers' gRPC addresses in partition order (peer i owns partition i and has broker id i). A
broker keeps the other partitions' logs empty and refuses writes and reads for them, naming the
owner, so a client can route by key. Without `--total-partitions` (the default) the broker is a
single node that owns every partition of every topic.

Peers are listed by their gRPC addresses (the original's flag); `kafka_peers` lists the same
brokers' Kafka addresses, as Kafka clients reach them, so the Kafka door can name every
partition's leader. The layout also fixes what brokers that never talk to each other must
still agree on: topic ids (derived from the topic name), the cluster id, and which broker
coordinates a consumer group (Kafka's placement, `abs(hash(group)) % brokers`).

Front doors ask a `ClusterLayout`; nothing here knows a wire protocol.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Protocol

from rafka.broker.errors import NotOwnerError
from rafka.broker.groups.store import partition_for_group

# Topic ids in a static layout are uuid5(this namespace, topic name): every broker creates its
# share of a topic on its own, and Kafka clients (Metadata v10+, Fetch v13+) treat a topic
# whose id differs between brokers as deleted and re-created.
STATIC_TOPIC_ID_NAMESPACE = uuid.UUID("3f6c8f4e-5b0d-5c1e-9a57-7261666b6131")


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    broker_id: int
    host: str
    port: int  # the gRPC port
    # The Kafka listener's address as clients reach it; None when this broker was not told.
    kafka: tuple[str, int] | None = None

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

    def coordinator_id(self, group_id: str) -> int:
        """Broker id coordinating `group_id` (a single node coordinates every group)."""
        ...

    @property
    def cluster_id(self) -> str | None:
        """The id every broker of the layout reports (None: the broker's own)."""
        ...

    @property
    def topic_id_namespace(self) -> uuid.UUID | None:
        """Set: topic ids are uuid5(namespace, name), equal on every broker; None: random."""
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
        kafka_peers: list[tuple[str, int]] | None = None,
    ) -> None:
        peers = peers or []
        kafka_peers = kafka_peers or []
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
        if kafka_peers and not (total_partitions and peers):
            raise ValueError("Kafka peers are only used in multi-broker mode, with --peers")
        if kafka_peers and len(kafka_peers) != len(peers):
            raise ValueError(
                f"{len(kafka_peers)} Kafka peers given for {len(peers)} peers; list one Kafka "
                "address per broker, in the order of the peers"
            )
        self._total = total_partitions
        self._partition = partition if total_partitions else -1
        self._peers = [
            BrokerEndpoint(i, host, port, kafka_peers[i] if kafka_peers else None)
            for i, (host, port) in enumerate(peers)
        ]
        self._self_endpoint = self_endpoint
        # Derived from the layout alone, so brokers given the same peers agree on it.
        seed = ",".join(b.address for b in self._peers) or str(total_partitions)
        self._cluster_id = (
            base64.urlsafe_b64encode(uuid.uuid5(STATIC_TOPIC_ID_NAMESPACE, seed).bytes)
            .decode()
            .rstrip("=")
            if total_partitions
            else None
        )

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

    @property
    def cluster_id(self) -> str | None:
        return self._cluster_id

    @property
    def topic_id_namespace(self) -> uuid.UUID | None:
        return STATIC_TOPIC_ID_NAMESPACE if self._total else None

    def owner_id(self, partition: int) -> int:
        return partition if self._total else max(self._partition, 0)

    def coordinator_id(self, group_id: str) -> int:
        # Kafka places a group by the same hash (over __consumer_offsets partitions); here
        # every broker computes it over the brokers, so all of them name the same one.
        if not self._total:
            return max(self._partition, 0)
        return partition_for_group(group_id, self._total)

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
