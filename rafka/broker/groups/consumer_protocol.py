"""Reading the "consumer" protocol that Kafka consumers embed in group membership.

The broker treats member metadata and assignments as opaque bytes, with two exceptions that
need the topics inside: OffsetDelete refuses to delete offsets of a topic the group still
subscribes to, and offsets of topics a stable group no longer subscribes to may expire.
Tools (`rafka groups describe`) also show assignments. Both messages are an int16 version
followed by the body kio generates from Kafka's ConsumerProtocolSubscription/Assignment
schemas; a newer version than kio knows is read with kio's newest schema, as Kafka's
ConsumerProtocol does (later versions only append fields).
"""

from __future__ import annotations

import struct
from functools import cache
from typing import Any

from kio.index import load_entity_schema
from kio.serial import entity_reader
from kio.static.constants import EntityType

CONSUMER_PROTOCOL_TYPE = "consumer"
_VERSION = struct.Struct(">h")
_MAX_KNOWN_VERSION = 3


@cache
def _reader(kind: str, version: int) -> Any:
    return entity_reader(load_entity_schema(kind, version, EntityType.data))


def _decode(kind: str, data: bytes) -> Any | None:
    if len(data) < 2:
        return None
    (version,) = _VERSION.unpack_from(data, 0)
    if version < 0:
        return None
    try:
        entity, _ = _reader(kind, min(version, _MAX_KNOWN_VERSION))(data, 2)
    except Exception:  # a client's bytes: anything unreadable means "unknown"
        return None
    return entity


def subscribed_topics(metadata: bytes) -> frozenset[str] | None:
    """The topics a consumer's JoinGroup metadata subscribes to; None if unreadable."""
    subscription = _decode("consumer_protocol_subscription", metadata)
    if subscription is None:
        return None
    return frozenset(str(topic) for topic in subscription.topics)


def assigned_partitions(assignment: bytes) -> list[tuple[str, int]] | None:
    """The (topic, partition) pairs in a consumer's assignment; None if unreadable."""
    if not assignment:
        return []
    decoded = _decode("consumer_protocol_assignment", assignment)
    if decoded is None:
        return None
    return [
        (str(item.topic), int(partition))
        for item in decoded.assigned_partitions
        for partition in item.partitions
    ]
