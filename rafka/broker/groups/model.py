"""The plain values the group coordinator takes and gives: settings, requests, results.

Front doors build these from their own wire types and translate the results back; nothing in
here knows a protocol. Partitions are `(topic, partition)` tuples throughout.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field

from rafka.broker.groups.errors import GroupError

DAY_MS = 24 * 60 * 60 * 1000
MINUTE_MS = 60 * 1000
# A member with no member id yet (its first JoinGroup), as Kafka spells it.
UNKNOWN_MEMBER_ID = ""
NO_GENERATION = -1

TopicPartition = tuple[str, int]


class GroupState(enum.Enum):
    """Kafka's classic group states; the values are the names DescribeGroups reports."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """Broker-wide group settings; Kafka's names in the comments."""

    offsets_topic_partitions: int = 4  # offsets.topic.num.partitions (Kafka: 50)
    offsets_retention_ms: int = 7 * DAY_MS  # offsets.retention.minutes
    offsets_retention_check_ms: int = 10 * MINUTE_MS  # offsets.retention.check.interval.ms
    min_session_timeout_ms: int = 6_000  # group.min.session.timeout.ms
    max_session_timeout_ms: int = 30 * MINUTE_MS  # group.max.session.timeout.ms
    initial_rebalance_delay_ms: int = 3_000  # group.initial.rebalance.delay.ms
    max_group_size: int = 2**31 - 1  # group.max.size
    offset_metadata_max_bytes: int = 4096  # offset.metadata.max.bytes
    # How long a brand-new member may wait in JoinGroup before it is dropped (Kafka's
    # GroupCoordinator.NewMemberJoinTimeoutMs; not configurable there either).
    new_member_join_timeout_ms: int = 5 * MINUTE_MS


# ---------------------------------------------------------------- membership


@dataclass(frozen=True, slots=True)
class JoinRequest:
    group_id: str
    member_id: str
    group_instance_id: str | None
    protocol_type: str
    # (name, metadata) in the member's order of preference.
    protocols: tuple[tuple[str, bytes], ...]
    session_timeout_ms: int
    rebalance_timeout_ms: int
    client_id: str = ""
    client_host: str = ""
    # KIP-394: a member without an id is first given one and asked to rejoin with it.
    require_known_member_id: bool = True
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class JoinedMember:
    """One member as the leader sees it: its metadata for the selected protocol."""

    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinResult:
    error: GroupError | None
    member_id: str
    generation_id: int = NO_GENERATION
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str = ""
    # Every member with its metadata, for the leader only; empty for followers.
    members: tuple[JoinedMember, ...] = ()
    skip_assignment: bool = False


@dataclass(frozen=True, slots=True)
class SyncRequest:
    group_id: str
    member_id: str
    group_instance_id: str | None
    generation_id: int
    protocol_type: str | None = None
    protocol_name: str | None = None
    # From the leader only: member id -> that member's assignment.
    assignments: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SyncResult:
    error: GroupError | None
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    group_id: str
    member_id: str
    group_instance_id: str | None
    generation_id: int


@dataclass(frozen=True, slots=True)
class LeavingMember:
    member_id: str
    group_instance_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class LeaveResult:
    error: GroupError | None
    # (member id, group instance id, error) per member, in request order.
    members: tuple[tuple[str, str | None, GroupError | None], ...] = ()


# ---------------------------------------------------------------- offsets


@dataclass(frozen=True, slots=True)
class CommittedOffset:
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp_ms: int = 0
    # Only old (v1) records carry one; Kafka ignores it since 2.1 and so do we.
    expire_timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class OffsetToCommit:
    topic: str
    partition: int
    offset: int
    leader_epoch: int = -1
    metadata: str | None = None


@dataclass(frozen=True, slots=True)
class CommitRequest:
    group_id: str
    member_id: str
    group_instance_id: str | None
    generation_id: int
    offsets: tuple[OffsetToCommit, ...]


class PendingResult:
    """Per-key errors known now, plus the write that must be durable before acknowledging.

    `durable` is None when nothing needs waiting for (no write, or the offsets topic does not
    fsync per message). `settle()` waits for it; if the fsync fails, every key that was
    written reports COORDINATOR_NOT_AVAILABLE instead of success.
    """

    __slots__ = ("durable", "errors", "written")

    def __init__(
        self,
        errors: dict[TopicPartition, GroupError | None],
        written: frozenset[TopicPartition] = frozenset(),
        durable: Awaitable[None] | None = None,
    ) -> None:
        self.errors = errors
        self.written = written
        self.durable = durable

    async def settle(self) -> dict[TopicPartition, GroupError | None]:
        if self.durable is not None:
            try:
                await self.durable
            except Exception:
                for key in self.written:
                    self.errors[key] = GroupError.COORDINATOR_NOT_AVAILABLE
            self.durable = None
        return self.errors


@dataclass(frozen=True, slots=True)
class GroupOffsets:
    """An OffsetFetch answer for one group: None for a partition without a committed offset."""

    error: GroupError | None
    offsets: dict[TopicPartition, CommittedOffset | None]


# ---------------------------------------------------------------- administration


@dataclass(frozen=True, slots=True)
class MemberSummary:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes  # for the selected protocol (empty unless the group is Stable)
    assignment: bytes  # empty unless the group is Stable


@dataclass(frozen=True, slots=True)
class GroupSummary:
    group_id: str
    state: GroupState
    protocol_type: str
    protocol_name: str
    generation_id: int
    leader_id: str
    members: tuple[MemberSummary, ...]


@dataclass(frozen=True, slots=True)
class GroupListing:
    group_id: str
    protocol_type: str
    state: GroupState
