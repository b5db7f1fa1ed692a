"""Consumer groups: the classic rebalance protocol and durable committed offsets.

The coordinator speaks plain Python values (`model`), so every front door (Kafka today, gRPC
later) drives the same groups and reads the same offsets. Module map:

- `model`: settings, requests and results; `errors`: `GroupError`, what can go wrong;
- `group`: one group's state and the state-transition table;
- `membership`: JoinGroup / SyncGroup / Heartbeat / LeaveGroup and their timers;
- `coordinator`: `GroupCoordinator`, the entry point (offsets, admin, expiry, loading);
- `store` and `codec`: the `__consumer_offsets` topic and its record formats;
- `consumer_protocol`: reading the topics inside consumer subscriptions and assignments;
- `timers`: asyncio timers, and manual ones for tests.
"""

from rafka.broker.groups.consumer_protocol import (
    CONSUMER_PROTOCOL_TYPE,
    assigned_partitions,
    subscribed_topics,
)
from rafka.broker.groups.coordinator import GroupCoordinator
from rafka.broker.groups.errors import GroupError
from rafka.broker.groups.model import (
    UNKNOWN_MEMBER_ID,
    CommitRequest,
    CommittedOffset,
    GroupListing,
    GroupOffsets,
    GroupSettings,
    GroupState,
    GroupSummary,
    HeartbeatRequest,
    JoinedMember,
    JoinRequest,
    JoinResult,
    LeaveResult,
    LeavingMember,
    MemberSummary,
    OffsetToCommit,
    PendingResult,
    SyncRequest,
    SyncResult,
    TopicPartition,
)
from rafka.broker.groups.store import OFFSETS_TOPIC, GroupStore, OffsetsTopicStore, StoreError
from rafka.broker.groups.timers import LoopTimers, ManualTimers, Timers

__all__ = [
    "CONSUMER_PROTOCOL_TYPE",
    "OFFSETS_TOPIC",
    "UNKNOWN_MEMBER_ID",
    "CommitRequest",
    "CommittedOffset",
    "GroupCoordinator",
    "GroupError",
    "GroupListing",
    "GroupOffsets",
    "GroupSettings",
    "GroupState",
    "GroupStore",
    "GroupSummary",
    "HeartbeatRequest",
    "JoinRequest",
    "JoinResult",
    "JoinedMember",
    "LeaveResult",
    "LeavingMember",
    "LoopTimers",
    "ManualTimers",
    "MemberSummary",
    "OffsetToCommit",
    "OffsetsTopicStore",
    "PendingResult",
    "StoreError",
    "SyncRequest",
    "SyncResult",
    "Timers",
    "TopicPartition",
    "assigned_partitions",
    "subscribed_topics",
]
