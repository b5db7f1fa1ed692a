"""Publish and PublishBatch: messages in, one v2 record batch per partition, appended once.

The whole call is checked before anything is written: every topic is resolved (or
auto-created), every partition chosen and its ownership checked, every batch built and its size
checked against the topic's max.message.bytes. Only then is each partition's batch appended
with one `Partition.append`, back to back with no await in between, so concurrent calls never
interleave within a partition. A batch larger than max.message.bytes is split into several
batches that still go to the log in that one append (all or nothing per partition).

Partition choice, as Kafka's default partitioner: an explicit partition wins; a key goes to
`murmur2(key) % partitions`; messages without either share one partition per call per topic,
moving round-robin between calls (Kafka's "sticky" idea: bigger batches than one per message).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from rafka.broker import Broker, Partition, Topic
from rafka.broker.cluster import ClusterLayout
from rafka.partitioner import partition_for_key
from rafka.records import BATCH_HEADER_SIZE, Record, build_batch
from rafka.server.grpc.convert import Incoming, incoming
from rafka.server.grpc.errors import invalid
from rafka.server.grpc.gen import rafka_pb2 as pb

# Bytes a record adds to a batch besides its key, value and headers (varints, attributes).
_RECORD_OVERHEAD = 40


@dataclass(slots=True)
class _PartitionPlan:
    partition: Partition
    records: list[Record] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)


@dataclass(slots=True)
class PublishOutcome:
    response: pb.PublishBatchResponse  # one result per message, in request order
    # fsyncs to wait for before answering (topics with flush.messages=1).
    durable: list[Awaitable[None]]


class Publisher:
    def __init__(self, broker: Broker, layout: ClusterLayout, clock: Callable[[], int]) -> None:
        self.broker = broker
        self.layout = layout
        self.clock = clock
        self._next_sticky: dict[str, int] = {}
        self.messages_published = 0

    def publish(self, messages: Sequence[pb.PublishRequest]) -> PublishOutcome:
        if not messages:
            raise invalid("no messages to publish")
        now = self.clock()
        plans: dict[tuple[str, int], _PartitionPlan] = {}
        topics: dict[str, Topic] = {}
        sticky: dict[str, int] = {}
        for index, request in enumerate(messages):
            message = incoming(request, now)
            name = message.topic
            topic = topics.get(name)
            if topic is None:
                if not name:
                    raise invalid(f"message {index} has an empty topic name")
                topic = topics[name] = self.broker.get_or_create_topic(name)
                if topic.record.internal:
                    raise invalid(f"topic {name!r} is internal; the broker writes it")
            number = self._choose_partition(topic, message, sticky)
            plan = plans.get((name, number))
            if plan is None:
                self.layout.check_owner(name, number)
                plan = plans[(name, number)] = _PartitionPlan(
                    self.broker.get_partition(name, number)
                )
            plan.records.append(message.record)
            plan.indexes.append(index)
        batches = [
            (plan, self._build(topics[plan.partition.topic], plan))
            for plan in plans.values()
        ]
        # (message id, partition, offset, timestamp) by request position.
        results: list[tuple[str, int, int, int]] = [("", 0, 0, 0)] * len(messages)
        durable: list[Awaitable[None]] = []
        for plan, data in batches:
            partition = plan.partition
            result = partition.append(data)
            if partition.log.config.flush_messages == 1:
                durable.append(partition.flush_through(result.last_offset + 1))
            prefix = f"{partition.topic}/{partition.index}/"
            append_time = result.log_append_time_ms
            number = partition.index
            offset = result.base_offset
            for index, record in zip(plan.indexes, plan.records, strict=True):
                timestamp = append_time if append_time >= 0 else record.timestamp_ms
                results[index] = (prefix + str(offset), number, offset, timestamp)
                offset += 1
        response = pb.PublishBatchResponse()
        add = response.results.add
        for message_id, number, offset, timestamp in results:
            add(message_id=message_id, partition=number, offset=offset, timestamp_ms=timestamp)
        self.messages_published += len(messages)
        return PublishOutcome(response, durable)

    def _choose_partition(self, topic: Topic, message: Incoming, sticky: dict[str, int]) -> int:
        count = len(topic.partitions)
        number = message.partition
        if number is not None:
            if not 0 <= number < count:
                raise invalid(
                    f"topic {topic.name!r} has no partition {number} (it has {count})"
                )
            return number
        key = message.record.key
        if key is not None:
            return partition_for_key(key, count)
        chosen = sticky.get(topic.name)
        if chosen is None:
            owned = self.layout.owned(count)
            if not owned:
                raise invalid(f"this broker owns no partition of topic {topic.name!r}")
            turn = self._next_sticky.get(topic.name, 0)
            self._next_sticky[topic.name] = turn + 1
            chosen = sticky[topic.name] = owned[turn % len(owned)]
        return chosen

    @staticmethod
    def _build(topic: Topic, plan: _PartitionPlan) -> bytes:
        """One batch, or several if one would exceed max.message.bytes; INVALID_ARGUMENT if a
        single message cannot fit."""
        limit = topic.log_config.max_message_bytes
        batch = build_batch(plan.records)
        if len(batch) <= limit:
            return batch
        parts: list[bytes] = []
        chunk: list[Record] = []
        chunk_size = BATCH_HEADER_SIZE
        for index, record in zip(plan.indexes, plan.records, strict=True):
            size = _record_size(record)
            if BATCH_HEADER_SIZE + size > limit and len(build_batch([record])) > limit:
                raise invalid(
                    f"message {index} ({len(build_batch([record]))} bytes as a record batch) "
                    f"exceeds max.message.bytes={limit} of topic {topic.name!r}"
                )
            if chunk and chunk_size + size > limit:
                parts.append(_checked(chunk, limit, topic.name))
                chunk, chunk_size = [], BATCH_HEADER_SIZE
            chunk.append(record)
            chunk_size += size
        parts.append(_checked(chunk, limit, topic.name))
        return b"".join(parts)


def _checked(chunk: list[Record], limit: int, topic: str) -> bytes:
    batch = build_batch(chunk)
    if len(batch) > limit:  # the size estimate is generous; this is a last guard
        raise invalid(
            f"a batch of {len(chunk)} messages ({len(batch)} bytes) exceeds "
            f"max.message.bytes={limit} of topic {topic!r}"
        )
    return batch


def _record_size(record: Record) -> int:
    size = _RECORD_OVERHEAD
    size += len(record.key) if record.key is not None else 0
    size += len(record.value) if record.value is not None else 0
    for key, value in record.headers:
        size += len(key.encode("utf-8", "surrogateescape")) + 10
        size += len(value) if value is not None else 0
    return size
