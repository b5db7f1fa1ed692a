"""One classic consumer group's state: its members, generation, protocol and committed offsets.

This module holds the data and the rules that need no clock and no storage: which state may
follow which (the table below is the whole state machine; Kafka's GroupMetadata has the same
one), which protocol the members agree on, who leads. The rebalance protocol that drives the
transitions lives in `membership.py`; committing and expiring offsets in `coordinator.py`.

    Empty                --member joins-->              PreparingRebalance
    PreparingRebalance   --every member rejoined-->     CompletingRebalance (or Empty)
    CompletingRebalance  --leader sent assignments-->   Stable
    Stable / Completing  --join, leave, expiry-->       PreparingRebalance
    any                  --group deleted or expired-->  Dead
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from rafka.broker.groups.consumer_protocol import CONSUMER_PROTOCOL_TYPE, subscribed_topics
from rafka.broker.groups.model import (
    CommittedOffset,
    GroupState,
    JoinedMember,
    JoinResult,
    SyncResult,
    TopicPartition,
)
from rafka.broker.groups.timers import TimerHandle

logger = logging.getLogger("rafka.groups")

# State -> the states it may be entered from.
VALID_PREVIOUS_STATES: dict[GroupState, frozenset[GroupState]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.PREPARING_REBALANCE: frozenset(
        {GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY}
    ),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.DEAD: frozenset(GroupState),
}


class IllegalStateTransition(RuntimeError):
    """A coordinator bug: a transition the table above does not allow."""


@dataclass(slots=True, eq=False)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    # (name, metadata) in the member's order of preference.
    protocols: tuple[tuple[str, bytes], ...]
    assignment: bytes = b""
    # The parked JoinGroup / SyncGroup answer, if the member is waiting for one.
    awaiting_join: Callable[[JoinResult], None] | None = None
    awaiting_sync: Callable[[SyncResult], None] | None = None
    # Joined but never completed a rebalance; such members expire on the join timeout.
    is_new: bool = False
    session_timer: TimerHandle | None = None

    @property
    def is_static(self) -> bool:
        return self.group_instance_id is not None

    def metadata_for(self, protocol: str) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        raise KeyError(f"member {self.member_id} does not support protocol {protocol!r}")

    def matches(self, protocols: tuple[tuple[str, bytes], ...]) -> bool:
        return self.protocols == protocols

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among those every member supports."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise KeyError(f"member {self.member_id} supports none of {sorted(candidates)}")

    def cancel_session_timer(self) -> None:
        if self.session_timer is not None:
            self.session_timer.cancel()
            self.session_timer = None


@dataclass(slots=True, eq=False)
class Group:
    group_id: str
    state_timestamp_ms: int
    state: GroupState = GroupState.EMPTY
    generation_id: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str | None = None
    members: dict[str, Member] = field(default_factory=dict)
    # group.instance.id -> member id, for static members.
    static_members: dict[str, str] = field(default_factory=dict)
    # KIP-394: member ids handed out with MEMBER_ID_REQUIRED, each with its expiry timer.
    pending_members: dict[str, TimerHandle] = field(default_factory=dict)
    # Members given a JoinGroup answer that have not sent SyncGroup yet.
    pending_sync: set[str] = field(default_factory=set)
    offsets: dict[TopicPartition, CommittedOffset] = field(default_factory=dict)
    # The topics the members subscribe to (consumer protocol only; None if unknown).
    subscribed_topics: frozenset[str] | None = None
    # The rebalance (or pending-sync) deadline.
    rebalance_timer: TimerHandle | None = None
    # While the first rebalance of an empty group waits for more members to arrive.
    initial_delay_active: bool = False
    initial_delay_remaining_ms: int = 0
    new_member_added: bool = False

    # ------------------------------------------------------------ state

    def transition_to(self, state: GroupState, now_ms: int) -> None:
        if self.state not in VALID_PREVIOUS_STATES[state]:
            raise IllegalStateTransition(
                f"group {self.group_id}: {self.state.value} -> {state.value} is not allowed"
            )
        logger.debug("group %s: %s -> %s", self.group_id, self.state.value, state.value)
        self.state = state
        self.state_timestamp_ms = now_ms

    def is_in(self, *states: GroupState) -> bool:
        return self.state in states

    @property
    def is_empty(self) -> bool:
        return not self.members

    def cancel_rebalance_timer(self) -> None:
        if self.rebalance_timer is not None:
            self.rebalance_timer.cancel()
            self.rebalance_timer = None

    # ------------------------------------------------------------ members

    def add_member(self, member: Member) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        if self.leader_id is None:
            self.leader_id = member.member_id

    def remove_member(self, member: Member) -> None:
        self.members.pop(member.member_id, None)
        self.pending_sync.discard(member.member_id)
        instance = member.group_instance_id
        if instance is not None and self.static_members.get(instance) == member.member_id:
            del self.static_members[instance]
        if self.leader_id == member.member_id:
            self.leader_id = next(iter(self.members), None)

    def replace_static_member(self, member: Member, new_member_id: str) -> None:
        """Give a static member's place to its restarted incarnation."""
        old_id = member.member_id
        del self.members[old_id]
        member.member_id = new_member_id
        self.members[new_member_id] = member
        assert member.group_instance_id is not None
        self.static_members[member.group_instance_id] = new_member_id
        if self.leader_id == old_id:
            self.leader_id = new_member_id
        if old_id in self.pending_sync:
            self.pending_sync.discard(old_id)
            self.pending_sync.add(new_member_id)

    def cancel_pending_member(self, member_id: str) -> bool:
        timer = self.pending_members.pop(member_id, None)
        if timer is None:
            return False
        timer.cancel()
        return True

    def has_all_members_joined(self) -> bool:
        return not self.pending_members and all(
            member.awaiting_join is not None for member in self.members.values()
        )

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def current_members(self) -> tuple[JoinedMember, ...]:
        """Every member with its metadata for the selected protocol (the leader's view)."""
        assert self.protocol_name is not None
        return tuple(
            JoinedMember(m.member_id, m.group_instance_id, m.metadata_for(self.protocol_name))
            for m in self.members.values()
        )

    def maybe_elect_joined_leader(self) -> bool:
        """Make sure the leader is a member that rejoined; False if no member rejoined."""
        if self.leader_id is None:
            return False
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.awaiting_join is not None:
            return True
        for member in self.members.values():
            if member.awaiting_join is not None:
                self.leader_id = member.member_id
                return True
        return False

    # ------------------------------------------------------------ protocols

    def candidate_protocols(self) -> set[str]:
        """The protocols every member supports."""
        members = iter(self.members.values())
        first = next(members, None)
        if first is None:
            return set()
        candidates = {name for name, _ in first.protocols}
        for member in members:
            candidates &= {name for name, _ in member.protocols}
        return candidates

    def supports_protocols(self, protocol_type: str, names: set[str]) -> bool:
        """Could a member with this protocol type and these protocols join?"""
        if not protocol_type or not names:
            return False
        if self.is_empty:
            return True
        return protocol_type == self.protocol_type and bool(names & self.candidate_protocols())

    def select_protocol(self) -> str:
        """Each member votes for its favourite among the common protocols; most votes wins
        (ties go to the protocol the earliest member prefers, so the choice is stable)."""
        candidates = self.candidate_protocols()
        if not candidates:
            raise IllegalStateTransition(f"group {self.group_id}: no protocol in common")
        votes = Counter(member.vote(candidates) for member in self.members.values())
        best = max(votes.values())
        for member in self.members.values():
            choice = member.vote(candidates)
            if votes[choice] == best:
                return choice
        raise AssertionError("unreachable")

    def init_next_generation(self, now_ms: int) -> None:
        """Start the next generation: CompletingRebalance with members, else Empty."""
        self.generation_id += 1
        self.pending_sync.clear()
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition_to(GroupState.COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.subscribed_topics = None
            self.transition_to(GroupState.EMPTY, now_ms)

    def compute_subscribed_topics(self) -> frozenset[str] | None:
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or self.protocol_name is None:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            found = subscribed_topics(member.metadata_for(self.protocol_name))
            if found is None:
                return None
            topics |= found
        return frozenset(topics)

    def is_subscribed_to(self, topic: str) -> bool:
        """Unknown subscriptions count as subscribed, so nothing is deleted by mistake."""
        return self.subscribed_topics is None or topic in self.subscribed_topics
