"""The broker's figures as plain values: topics, partitions, consumer groups and their lag.

One read model for every reader: the JSON API (`/api/v1/...`), the console that draws it and
`rafka metrics` print these; the Prometheus collector reads the same attributes directly (it
must stay fast at thousands of partitions, so it skips building these objects).

Definitions, used everywhere:
- messages stored in a partition: log end offset - log start offset;
- lag of a group on a partition: the partition's high watermark (what a consumer can read
  up to; the "latest" offset ListOffsets reports) - the group's committed offset, as
  `kafka-consumer-groups.sh` and `rafka groups describe` compute it;
- oldest message: the timestamp of the first batch still in the log (its first timestamp, or
  the broker's append time for LogAppendTime topics).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from rafka.broker import Broker, Partition, Topic
from rafka.broker.groups import (
    CONSUMER_PROTOCOL_TYPE,
    GroupCoordinator,
    assigned_partitions,
)
from rafka.broker.topic_config import effective_topic_configs
from rafka.log import LogError
from rafka.records import BATCH_HEADER_SIZE, BatchError, parse_header


class OldestTimestamps:
    """The timestamp of each partition's oldest batch, read once per log start offset.

    Reading it means reading that batch from the log, which the first time after a start
    also loads the segment's indexes (about 0.1 ms a partition); the answer only changes when
    the log start offset moves (retention, DeleteRecords) or an empty log gets its first batch,
    so it is cached per partition.

    Two things keep a scrape fast. At start-up `warm_up()` reads every partition's timestamp
    in a worker thread, a chunk at a time, so the first scrape after a restart finds them
    cached instead of loading a thousand indexes on the event loop; while it runs, passes
    answer from the cache only (a timestamp not read yet is left out, not read twice). After
    that, each pass (a scrape, an API call) may spend at most `budget_s` on reads it has no
    answer for (partitions that got their first message, log starts that moved); past that it
    answers from the cache (possibly one log start behind) or not at all, and the next pass
    reads on.
    """

    #: Partitions read per worker-thread job during `warm_up()`: a few milliseconds of work,
    #: so the cache fills in steps a scrape can use and shutdown never waits long for it.
    WARM_UP_CHUNK = 100

    def __init__(self, budget_s: float = 0.025) -> None:
        self.budget_s = budget_s
        self.warming = False
        self._deadline = 0.0
        self._cache: weakref.WeakKeyDictionary[Partition, tuple[int, int | None]] = (
            weakref.WeakKeyDictionary()
        )

    def start_pass(self) -> None:
        self._deadline = time.perf_counter() + self.budget_s

    def get(self, partition: Partition) -> int | None:
        """Milliseconds since the epoch, or None for an empty partition (or not read yet)."""
        log = partition.log
        start = log.log_start_offset
        if log.high_watermark <= start:
            return None
        cached = self._cache.get(partition)
        if cached is not None and cached[0] == start and cached[1] is not None:
            return cached[1]
        if self.warming or time.perf_counter() > self._deadline:
            return cached[1] if cached is not None else None
        timestamp = _first_batch_timestamp(partition, start)
        self._cache[partition] = (start, timestamp)
        return timestamp

    async def warm_up(self, partitions: list[Partition], keep_going: Callable[[], bool]) -> int:
        """Read the timestamps of `partitions` in worker threads, installing each chunk's
        answers on the event loop (the only thread that touches the cache). Stops early once
        `keep_going()` is false (logs closing). Returns how many timestamps it cached.

        The log's reads are safe from another thread: a `DiskLog` reads its segments under
        the lock its appends, flushes and segment deletions take, and its batches come back
        as fresh bytes. Offsets read unlocked may be a moment old; an answer whose log start
        moved meanwhile is dropped, and the next pass reads it again.
        """
        loop = asyncio.get_running_loop()
        cached = 0
        self.warming = True
        try:
            for first in range(0, len(partitions), self.WARM_UP_CHUNK):
                if not keep_going():
                    break
                chunk = [
                    (partition, partition.log.log_start_offset)
                    for partition in partitions[first : first + self.WARM_UP_CHUNK]
                    if partition not in self._cache
                ]
                answers = await loop.run_in_executor(None, _read_timestamps, chunk)
                if not keep_going():
                    break
                for partition, start, timestamp in answers:
                    if timestamp is not None and partition.log.log_start_offset == start:
                        self._cache[partition] = (start, timestamp)
                        cached += 1
        finally:
            self.warming = False
        return cached


def _read_timestamps(chunk: list[tuple[Partition, int]]) -> list[tuple[Partition, int, int | None]]:
    """(partition, log start, timestamp) for each non-empty partition of `chunk`."""
    return [
        (partition, start, _first_batch_timestamp(partition, start))
        for partition, start in chunk
        if partition.log.high_watermark > start
    ]


def _first_batch_timestamp(partition: Partition, start: int) -> int | None:
    log = partition.log
    try:
        read = log.read(start, BATCH_HEADER_SIZE, max_offset=log.high_watermark)
    except (LogError, OSError):
        return None
    if not read.chunks:
        return None
    try:
        header = parse_header(read.chunks[0])
    except BatchError:
        return None
    return header.first_timestamp


@dataclass(frozen=True, slots=True)
class PartitionFigures:
    partition: int
    log_start_offset: int
    log_end_offset: int
    high_watermark: int
    messages: int
    size_bytes: int
    segments: int
    messages_in: int
    bytes_in: int
    messages_out: int
    bytes_out: int
    oldest_timestamp_ms: int | None


@dataclass(frozen=True, slots=True)
class TopicFigures:
    name: str
    topic_id: str
    internal: bool
    partitions: tuple[PartitionFigures, ...]
    # Config name -> (value, set for this topic rather than inherited from the broker).
    configs: dict[str, tuple[str, bool]] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return sum(p.messages for p in self.partitions)

    @property
    def size_bytes(self) -> int:
        return sum(p.size_bytes for p in self.partitions)

    def total(self, name: str) -> int:
        """Sum of a per-partition counter (`messages_in`, `bytes_out`, ...)."""
        return sum(getattr(p, name) for p in self.partitions)

    @property
    def oldest_timestamp_ms(self) -> int | None:
        stamps = [p.oldest_timestamp_ms for p in self.partitions if p.oldest_timestamp_ms]
        return min(stamps) if stamps else None


def partition_figures(partition: Partition, oldest: OldestTimestamps) -> PartitionFigures:
    log = partition.log
    start, end = log.log_start_offset, log.log_end_offset
    return PartitionFigures(
        partition=partition.index,
        log_start_offset=start,
        log_end_offset=end,
        high_watermark=log.high_watermark,
        messages=max(0, end - start),
        size_bytes=log.size_bytes,
        segments=log.segment_count,
        messages_in=partition.messages_in,
        bytes_in=partition.bytes_in,
        messages_out=partition.messages_out,
        bytes_out=partition.bytes_out,
        oldest_timestamp_ms=oldest.get(partition),
    )


def topic_figures(
    broker: Broker, topic: Topic, oldest: OldestTimestamps, with_configs: bool = False
) -> TopicFigures:
    configs = (
        effective_topic_configs(topic.record.configs, broker.settings.log_defaults)
        if with_configs
        else {}
    )
    return TopicFigures(
        name=topic.name,
        topic_id=str(topic.record.topic_id),
        internal=topic.record.internal,
        partitions=tuple(partition_figures(p, oldest) for p in topic.partitions),
        configs=configs,
    )


# ---------------------------------------------------------------- consumer groups


@dataclass(frozen=True, slots=True)
class MemberFigures:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    assignment: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class GroupPartitionFigures:
    topic: str
    partition: int
    committed_offset: int | None
    high_watermark: int | None
    lag: int | None
    member_id: str | None


@dataclass(frozen=True, slots=True)
class GroupFigures:
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    generation_id: int
    leader_id: str
    members: tuple[MemberFigures, ...]
    partitions: tuple[GroupPartitionFigures, ...]

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions if p.lag is not None)


def group_ids(groups: GroupCoordinator | None) -> list[str]:
    if groups is None:
        return []
    return [listing.group_id for listing in groups.list_groups()]


def group_figures(broker: Broker, groups: GroupCoordinator, group_id: str) -> GroupFigures | None:
    """One group's state, members and, per partition it committed or is assigned, its lag."""
    summary = groups.describe_group(group_id)
    if summary is None:
        return None
    members: list[MemberFigures] = []
    owner: dict[tuple[str, int], str] = {}
    for member in summary.members:
        assignment: list[tuple[str, int]] = []
        if summary.protocol_type == CONSUMER_PROTOCOL_TYPE:
            assignment = assigned_partitions(member.assignment) or []
        for key in assignment:
            owner[key] = member.member_id
        members.append(
            MemberFigures(
                member.member_id,
                member.group_instance_id,
                member.client_id,
                member.client_host,
                tuple(sorted(assignment)),
            )
        )
    committed = groups.fetch_offsets(group_id, None).offsets
    keys = sorted(set(committed) | set(owner))
    partitions = []
    for topic, index in keys:
        found = committed.get((topic, index))
        offset = found.offset if found is not None else None
        high_watermark = _high_watermark(broker, topic, index)
        lag = (
            high_watermark - offset
            if offset is not None and offset >= 0 and high_watermark is not None
            else None
        )
        partitions.append(
            GroupPartitionFigures(
                topic, index, offset, high_watermark, lag, owner.get((topic, index))
            )
        )
    return GroupFigures(
        group_id=summary.group_id,
        state=summary.state.value,
        protocol_type=summary.protocol_type,
        protocol=summary.protocol_name,
        generation_id=summary.generation_id,
        leader_id=summary.leader_id,
        members=tuple(members),
        partitions=tuple(partitions),
    )


def _high_watermark(broker: Broker, topic: str, index: int) -> int | None:
    found = broker.topics.get(topic)
    if found is None or not 0 <= index < len(found.partitions):
        return None
    return found.partitions[index].log.high_watermark
