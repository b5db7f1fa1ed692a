"""Where committed offsets and group metadata live: the internal topic `__consumer_offsets`.

Like Kafka, Rafka keeps them in an ordinary partitioned log topic, so they get the log's
durability, recovery and tooling for free. Each group lives in one partition of it,
`abs(java_hash(group_id)) % partitions` as in Kafka, and every change is a keyed record
(`codec.py`): an offset commit, the group's members and assignments after a rebalance, or a
tombstone (null value) when an offset or group is deleted. Writes go through
`Partition.append` like any produce, so the high watermark and parked fetches behave as for
any topic. On start the coordinator reads every partition from its log start; the last value
of each key wins, which is exactly what log compaction keeps, so loading gives the same groups
and offsets before and after the cleaner has run (tombstones included: a key whose last record
is a tombstone is absent either way, and the cleaner only drops a tombstone once
delete.retention.ms has passed since it first kept it).

Segments: compaction only ever rewrites closed segments, and start-up reads the active one in
full, so the topic rolls at 16 MiB or after an hour, whichever comes first. Kafka uses 100 MiB
(offsets.topic.segment.bytes) spread over 50 partitions; here four partitions share one event
loop that decodes every record at start-up, and a quiet broker would take months to fill
100 MiB, so its commits would never be compacted. An hour bounds how long a quiet partition
waits; the cleaner merges the small cleaned segments back together on its next passes.

Partition count: the default is 4, not Kafka's 50. On one node every partition shares one
disk and one event loop, so more partitions only add files and start-up reads; a few still
let groups move to different coordinators once there are several brokers. The count of an
existing topic is never changed, since that would move groups away from their records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rafka.broker.broker import Broker
from rafka.broker.errors import BrokerError
from rafka.broker.groups.codec import (
    GroupKey,
    OffsetKey,
    RecordFormatError,
    StoredGroup,
    decode_group_value,
    decode_key,
    decode_offset_value,
)
from rafka.broker.groups.model import CommittedOffset, GroupSettings, TopicPartition
from rafka.log import LogError
from rafka.records import BatchError, BatchTooLargeError, Record, build_batch, iter_batches
from rafka.records.builder import decode_batch

logger = logging.getLogger("rafka.groups")

OFFSETS_TOPIC = "__consumer_offsets"
OFFSETS_TOPIC_SEGMENT_BYTES = 16 * 1024 * 1024  # offsets.topic.segment.bytes (see above)
OFFSETS_TOPIC_SEGMENT_MS = 60 * 60 * 1000
# What the topic is created with; an existing topic gets the keys it lacks (older versions
# created it without segment.ms), never changes to what it has.
OFFSETS_TOPIC_CONFIGS = {
    "cleanup.policy": "compact",
    "segment.bytes": str(OFFSETS_TOPIC_SEGMENT_BYTES),
    "segment.ms": str(OFFSETS_TOPIC_SEGMENT_MS),
}
_CONTROL_BATCH = 0x20
_READ_CHUNK_BYTES = 1024 * 1024

KeyValue = tuple[bytes, bytes | None]


class StoreError(Exception):
    """A write to the offsets topic failed; nothing was written."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(slots=True)
class LoadedGroups:
    """What the offsets topic says, last value per key."""

    offsets: dict[str, dict[TopicPartition, CommittedOffset]] = field(default_factory=dict)
    groups: dict[str, StoredGroup] = field(default_factory=dict)
    records: int = 0
    unreadable: int = 0


class GroupStore(Protocol):
    """What the coordinator needs from storage (a fake in unit tests)."""

    def write(
        self, group_id: str, records: Sequence[KeyValue], durable: bool
    ) -> Awaitable[None] | None:
        """Append the records to the group's partition, all or nothing; raise StoreError.

        With `durable`, return an awaitable that completes once they are fsynced, if the
        offsets topic's flush policy asks for that (None when there is nothing to wait for).
        """
        ...

    def load(self) -> LoadedGroups: ...

    def partition_exists(self, topic: str, partition: int) -> bool: ...


def java_string_hash(text: str) -> int:
    """Java's String.hashCode (over UTF-16 code units), as a signed 32-bit int."""
    value = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        value = (31 * value + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def partition_for_group(group_id: str, partitions: int) -> int:
    """Kafka's placement: Utils.abs(groupId.hashCode) % partitions."""
    hashed = java_string_hash(group_id)
    return (0 if hashed == -(2**31) else abs(hashed)) % partitions


class OffsetsTopicStore:
    """The `GroupStore` backed by the broker's `__consumer_offsets` topic."""

    def __init__(self, broker: Broker, settings: GroupSettings) -> None:
        self.broker = broker
        self.settings = settings

    def ensure_topic(self) -> int:
        """Create the offsets topic if it does not exist; returns its partition count."""
        topic = self.broker.topics.get(OFFSETS_TOPIC)
        if topic is None:
            created = self.broker.create_topic(
                OFFSETS_TOPIC,
                self.settings.offsets_topic_partitions,
                OFFSETS_TOPIC_CONFIGS,
                internal=True,
            )
            assert created is not None
            topic = created
        elif any(name not in topic.record.configs for name in OFFSETS_TOPIC_CONFIGS):
            self.broker.set_topic_configs(
                OFFSETS_TOPIC, {**OFFSETS_TOPIC_CONFIGS, **topic.record.configs}
            )
        return len(topic.partitions)

    def partition_count(self) -> int:
        return len(self.broker.get_topic(OFFSETS_TOPIC).partitions)

    def partition_exists(self, topic: str, partition: int) -> bool:
        found = self.broker.topics.get(topic)
        return found is not None and 0 <= partition < len(found.partitions)

    def write(
        self, group_id: str, records: Sequence[KeyValue], durable: bool
    ) -> Awaitable[None] | None:
        now = self.broker.clock()
        try:
            partition = self.broker.get_partition(
                OFFSETS_TOPIC, partition_for_group(group_id, self.partition_count())
            )
            batch = build_batch([Record(key, value, (), now) for key, value in records])
            appended = partition.append(batch)
        except BatchTooLargeError as exc:
            raise StoreError(str(exc), too_large=True) from exc
        except (BrokerError, BatchError, LogError) as exc:
            logger.error("writing group %s to %s failed: %s", group_id, OFFSETS_TOPIC, exc)
            raise StoreError(str(exc)) from exc
        if durable and partition.log.config.flush_messages == 1:
            return partition.flush_through(appended.last_offset + 1)
        return None

    def load(self) -> LoadedGroups:
        """Read every partition of the offsets topic from its start (blocking; run it before
        serving, or in a worker thread while nothing else touches these logs)."""
        started = time.monotonic()
        loaded = LoadedGroups()
        topic = self.broker.topics.get(OFFSETS_TOPIC)
        for partition in topic.partitions if topic is not None else []:
            log = partition.log
            offset = log.log_start_offset
            while offset < log.log_end_offset:
                read = log.read(offset, _READ_CHUNK_BYTES)
                data = b"".join(bytes(chunk) for chunk in read.chunks)
                advanced = offset
                for position, header in iter_batches(data):
                    advanced = header.next_offset
                    if header.attributes & _CONTROL_BATCH:
                        continue
                    for record in decode_batch(data, position):
                        _apply(loaded, record.key, record.value)
                if advanced == offset:
                    break
                offset = advanced
        logger.info(
            "loaded %d groups and %d committed offsets from %d records of %s in %.2f s",
            len(loaded.groups),
            sum(len(offsets) for offsets in loaded.offsets.values()),
            loaded.records,
            OFFSETS_TOPIC,
            time.monotonic() - started,
        )
        return loaded


def _apply(loaded: LoadedGroups, key_bytes: bytes | None, value: bytes | None) -> None:
    """Fold one record into what is loaded so far: the later value of a key wins."""
    loaded.records += 1
    if key_bytes is None:
        loaded.unreadable += 1
        return
    try:
        key = decode_key(key_bytes)
        if isinstance(key, OffsetKey):
            offsets = loaded.offsets.setdefault(key.group_id, {})
            if value is None:
                offsets.pop((key.topic, key.partition), None)
            else:
                offsets[(key.topic, key.partition)] = decode_offset_value(value)
        elif isinstance(key, GroupKey):
            if value is None:
                loaded.groups.pop(key.group_id, None)
            else:
                loaded.groups[key.group_id] = decode_group_value(value)
    except RecordFormatError as exc:
        loaded.unreadable += 1
        logger.warning("skipping an unreadable %s record: %s", OFFSETS_TOPIC, exc)
