"""Which partitions this broker serves to Kafka clients under the cluster layout.

In multi-broker mode (`rafka.broker.cluster`) every broker holds partition P of every topic. A
request for another broker's partition fails with NotOwnerError, which the Kafka door answers
NOT_LEADER_OR_FOLLOWER: clients then refresh their metadata and go to the leader it names.
Internal topics (`__consumer_offsets`) are each broker's own and always served here.

The brokers never talk to each other, so a topic created through one broker (Metadata
auto-creation, CreateTopics) does not exist on the others yet. The first request that names it
here (Metadata, see `handlers/metadata.py`; a request for this broker's partition of it; an
offset commit when this broker coordinates the group) creates this broker's share, when
auto-creation is on, with the same partition count and topic id as everywhere, just as the gRPC
door does on publish and consume.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rafka.broker import FetchedPartition, FetchPartition, LongPoll, fetch
from rafka.broker.errors import BrokerError

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor


def check_owner(door: KafkaFrontDoor, topic: str, partition: int) -> None:
    """Raise NotOwnerError unless this broker serves the partition; see the module text for
    why an owned partition of a topic not seen here yet is created."""
    layout = door.layout
    if not layout.total_partitions:
        return
    broker = door.broker
    existing = broker.topics.get(topic)
    if existing is not None and existing.record.internal:
        return
    layout.check_owner(topic, partition)
    if existing is None:
        ensure_share(door, topic)


def ensure_share(door: KafkaFrontDoor, topic: str) -> None:
    """Multi-broker mode: create this broker's share of a topic it has not seen, if topics
    may be auto-created. Raises BrokerError for a name that cannot be a topic."""
    broker = door.broker
    creates = bool(door.layout.total_partitions) and broker.settings.auto_create_topics
    if creates and topic not in broker.topics:
        broker.get_or_create_topic(topic)


def fetch_owned(
    door: KafkaFrontDoor,
    requests: list[FetchPartition],
    max_wait_ms: int,
    min_bytes: int,
    max_bytes: int,
) -> list[FetchedPartition] | LongPoll:
    """`rafka.broker.fetch` for the partitions this broker serves; the others come back with
    their NotOwnerError, in request order."""
    if not door.layout.total_partitions:
        return fetch(door.broker, requests, max_wait_ms, min_bytes, max_bytes)
    refused: dict[int, BrokerError] = {}
    for i, request in enumerate(requests):
        try:
            check_owner(door, request.topic, request.partition)
        except BrokerError as exc:
            refused[i] = exc
    if not refused:
        return fetch(door.broker, requests, max_wait_ms, min_bytes, max_bytes)
    owned = [request for i, request in enumerate(requests) if i not in refused]
    # Like any partition error, a refusal is answered at once, not after the long poll
    # (so with no wait, fetch returns its results rather than parking).
    answered = fetch(door.broker, owned, 0, min_bytes, max_bytes)
    assert isinstance(answered, list)
    fetched = iter(answered)
    return [
        FetchedPartition(request, error=refused[i]) if i in refused else next(fetched)
        for i, request in enumerate(requests)
    ]
