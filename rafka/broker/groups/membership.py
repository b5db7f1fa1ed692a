"""The classic rebalance protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and their timers.

This follows Kafka's GroupCoordinator closely, because clients depend on its exact answers:

- A JoinGroup parks until every member has rejoined (or the rebalance timeout passes); then
  the generation advances, a protocol every member supports is chosen, the leader is sent all
  members' metadata and everyone gets an answer.
- The leader's SyncGroup carries the assignment. It is stored as group metadata and, once
  that write is as durable as an offset commit would be (fsynced when the offsets topic says
  so), every member's parked SyncGroup is answered with its share and the group is Stable.
- Each member has one session timer, re-armed by every heartbeat, commit or sync; when it fires
  the member is removed and the rest rebalance. A member whose JoinGroup or SyncGroup is parked
  is kept alive, except a new member that waits longer than the new-member join timeout.
- Static members (KIP-345, `group.instance.id`) keep their place across restarts: a known
  instance id that joins without a member id takes over the old member's id and assignment,
  fencing the old incarnation, and a Stable group does not rebalance for it.
- KIP-394: a JoinGroup without a member id (v4+) is answered MEMBER_ID_REQUIRED with a new id
  to rejoin with, so a client that times out and retries does not leave a ghost member behind.

Answers to parked requests are callbacks: the front door turns them into whatever it awaits.
Everything runs on the event loop thread; nothing here blocks or sleeps. Storing group metadata
reports back through a callback too, possibly later (after an fsync), so each answer that
depends on it re-checks that the group is still where it was when the write was made.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping

from rafka.broker.groups.errors import GroupError
from rafka.broker.groups.group import Group, Member
from rafka.broker.groups.model import (
    UNKNOWN_MEMBER_ID,
    GroupSettings,
    GroupState,
    HeartbeatRequest,
    JoinRequest,
    JoinResult,
    LeaveResult,
    LeavingMember,
    SyncRequest,
    SyncResult,
)
from rafka.broker.groups.timers import Timers

logger = logging.getLogger("rafka.groups")

JoinCallback = Callable[[JoinResult], None]
SyncCallback = Callable[[SyncResult], None]
# Called once group metadata is durable (None) or could not be stored (the error).
Stored = Callable[[GroupError | None], None]
# Persist the group's metadata (members and assignments). With a callback, call it once the
# write is durable or has failed (right away or later); without one, nobody waits for it.
StoreGroup = Callable[[Group, Stored | None], None]

_REBALANCING = (GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY)


class Membership:
    def __init__(
        self,
        groups: dict[str, Group],
        settings: GroupSettings,
        timers: Timers,
        clock: Callable[[], int],
        store_group: StoreGroup,
    ) -> None:
        self.groups = groups
        self.settings = settings
        self.timers = timers
        self.clock = clock
        self.store_group = store_group
        self.rebalances = 0  # completed join phases, for metrics and tests

    # ------------------------------------------------------------ JoinGroup

    def join(self, request: JoinRequest, respond: JoinCallback) -> None:
        error = self._check_join(request)
        if error is not None:
            respond(JoinResult(error, request.member_id))
            return
        group = self.groups.get(request.group_id)
        if group is None:
            if request.member_id != UNKNOWN_MEMBER_ID:
                respond(JoinResult(GroupError.UNKNOWN_MEMBER_ID, request.member_id))
                return
            group = Group(request.group_id, self.clock())
            self.groups[group.group_id] = group
        if group.is_in(GroupState.DEAD):
            respond(JoinResult(GroupError.COORDINATOR_NOT_AVAILABLE, request.member_id))
        elif not group.supports_protocols(
            request.protocol_type, {name for name, _ in request.protocols}
        ):
            respond(JoinResult(GroupError.INCONSISTENT_GROUP_PROTOCOL, request.member_id))
        elif request.member_id == UNKNOWN_MEMBER_ID:
            self._join_new_member(group, request, respond)
        else:
            self._join_known_member(group, request, respond)
        self.forget_if_unused(group)

    def _check_join(self, request: JoinRequest) -> GroupError | None:
        if not request.group_id:
            return GroupError.INVALID_GROUP_ID
        settings = self.settings
        timeout = request.session_timeout_ms
        if not settings.min_session_timeout_ms <= timeout <= settings.max_session_timeout_ms:
            return GroupError.INVALID_SESSION_TIMEOUT
        return None

    def _join_new_member(self, group: Group, request: JoinRequest, respond: JoinCallback) -> None:
        prefix = request.group_instance_id or request.client_id
        member_id = f"{prefix}-{uuid.uuid4()}"
        instance = request.group_instance_id
        if instance is not None and instance in group.static_members:
            # A restarted static member takes its own place back; the group does not grow.
            self._replace_static_member(group, request, member_id, respond)
        elif len(group.members) + len(group.pending_members) >= self.settings.max_group_size:
            respond(JoinResult(GroupError.GROUP_MAX_SIZE_REACHED, UNKNOWN_MEMBER_ID))
        elif instance is None and request.require_known_member_id:
            group.pending_members[member_id] = self.timers.call_later(
                request.session_timeout_ms, lambda: self._expire_pending(group, member_id)
            )
            respond(JoinResult(GroupError.MEMBER_ID_REQUIRED, member_id))
        else:
            self._add_member_and_rebalance(group, request, member_id, respond)

    def _join_known_member(self, group: Group, request: JoinRequest, respond: JoinCallback) -> None:
        member_id = request.member_id
        instance = request.group_instance_id
        if instance is not None and group.static_members.get(instance, member_id) != member_id:
            respond(JoinResult(GroupError.FENCED_INSTANCE_ID, member_id))
            return
        if group.cancel_pending_member(member_id):
            self._add_member_and_rebalance(group, request, member_id, respond)
            return
        member = group.members.get(member_id)
        if member is None:
            respond(JoinResult(GroupError.UNKNOWN_MEMBER_ID, member_id))
        elif group.is_in(GroupState.PREPARING_REBALANCE):
            self._update_member_and_rebalance(group, member, request, respond)
        elif group.is_in(GroupState.COMPLETING_REBALANCE):
            # The member lost our answer and asks again: answer the same, unless it changed.
            if member.matches(request.protocols):
                respond(self._current_join_result(group, member))
            else:
                self._update_member_and_rebalance(group, member, request, respond)
        elif group.is_in(GroupState.STABLE):
            # A leader's JoinGroup forces a rebalance (its topics' metadata may have changed).
            if member_id == group.leader_id or not member.matches(request.protocols):
                self._update_member_and_rebalance(group, member, request, respond)
            else:
                respond(self._current_join_result(group, member))
        else:
            respond(JoinResult(GroupError.UNKNOWN_MEMBER_ID, member_id))

    def _current_join_result(self, group: Group, member: Member) -> JoinResult:
        is_leader = member.member_id == group.leader_id
        return JoinResult(
            None,
            member.member_id,
            group.generation_id,
            group.protocol_type,
            group.protocol_name,
            group.leader_id or "",
            group.current_members() if is_leader else (),
        )

    def _add_member_and_rebalance(
        self, group: Group, request: JoinRequest, member_id: str, respond: JoinCallback
    ) -> None:
        member = Member(
            member_id,
            request.group_instance_id,
            request.client_id,
            request.client_host,
            request.rebalance_timeout_ms,
            request.session_timeout_ms,
            request.protocol_type,
            request.protocols,
            awaiting_join=respond,
            is_new=True,
        )
        group.add_member(member)
        # A new member cannot heartbeat until it has an answer; bound how long it may wait.
        self._arm_session_timer(group, member, self.settings.new_member_join_timeout_ms)
        if group.is_in(GroupState.PREPARING_REBALANCE) and group.initial_delay_active:
            group.new_member_added = True
        reason = request.reason or "a new member joined"
        self._maybe_prepare_rebalance(group, f"{member_id} joined ({reason})")
        self._try_complete_join(group)

    def _update_member_and_rebalance(
        self, group: Group, member: Member, request: JoinRequest, respond: JoinCallback
    ) -> None:
        member.protocols = request.protocols
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        member.session_timeout_ms = request.session_timeout_ms
        if member.awaiting_join is not None:
            member.awaiting_join(JoinResult(GroupError.REBALANCE_IN_PROGRESS, member.member_id))
        member.awaiting_join = respond
        reason = request.reason or "a member rejoined"
        self._maybe_prepare_rebalance(group, f"{member.member_id} rejoined ({reason})")
        self._try_complete_join(group)

    def _replace_static_member(
        self, group: Group, request: JoinRequest, new_member_id: str, respond: JoinCallback
    ) -> None:
        assert request.group_instance_id is not None
        member = group.members[group.static_members[request.group_instance_id]]
        old_id, old_leader = member.member_id, group.leader_id
        # Fence the old incarnation if it is still waiting for an answer.
        if member.awaiting_join is not None:
            member.awaiting_join(JoinResult(GroupError.FENCED_INSTANCE_ID, old_id))
            member.awaiting_join = None
        if member.awaiting_sync is not None:
            member.awaiting_sync(SyncResult(GroupError.FENCED_INSTANCE_ID))
            member.awaiting_sync = None
        group.replace_static_member(member, new_member_id)
        member.client_id, member.client_host = request.client_id, request.client_host
        self._arm_session_timer(group, member)
        old_protocols = member.protocols
        member.protocols = request.protocols
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        member.session_timeout_ms = request.session_timeout_ms
        logger.info(
            "group %s: static member %s restarted as %s",
            group.group_id,
            request.group_instance_id,
            new_member_id,
        )
        if group.is_in(GroupState.STABLE):
            if group.select_protocol() != group.protocol_name:
                member.awaiting_join = respond
                self._prepare_rebalance(group, f"static member {new_member_id} changed protocols")
                return
            # No rebalance. The old leader id is returned, so even a restarted leader sees
            # itself as a follower and just fetches its stored assignment with SyncGroup.
            answer = JoinResult(
                None,
                new_member_id,
                group.generation_id,
                group.protocol_type,
                group.protocol_name,
                old_leader or "",
                group.current_members() if group.leader_id == new_member_id else (),
            )

            def stored(error: GroupError | None) -> None:
                if error is None:
                    respond(answer)
                    return
                if group.members.get(new_member_id) is member:
                    group.replace_static_member(member, old_id)
                    member.protocols = old_protocols
                respond(JoinResult(error, UNKNOWN_MEMBER_ID))

            self.store_group(group, stored)
        else:
            member.awaiting_join = respond
            if group.is_in(GroupState.COMPLETING_REBALANCE):
                # The leader may be assigning to the old member id: start over.
                self._prepare_rebalance(group, f"static member {new_member_id} restarted")
            self._try_complete_join(group)

    def _expire_pending(self, group: Group, member_id: str) -> None:
        if group.pending_members.pop(member_id, None) is None:
            return
        logger.info("group %s: pending member %s never rejoined", group.group_id, member_id)
        self._try_complete_join(group)
        self.forget_if_unused(group)

    # ------------------------------------------------------------ rebalancing

    def _maybe_prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.is_in(*_REBALANCING):
            self._prepare_rebalance(group, reason)

    def _prepare_rebalance(self, group: Group, reason: str) -> None:
        if group.is_in(GroupState.COMPLETING_REBALANCE):
            self._reset_assignments(group, GroupError.REBALANCE_IN_PROGRESS)
        group.cancel_rebalance_timer()
        if group.is_in(GroupState.EMPTY):
            # Wait a little for more members before the first rebalance, extending the wait
            # while new members keep arriving, up to the rebalance timeout.
            initial = self.settings.initial_rebalance_delay_ms
            timeout = group.rebalance_timeout_ms()
            delay = min(initial, timeout)
            group.initial_delay_active = True
            group.initial_delay_remaining_ms = max(timeout - initial, 0)
            group.new_member_added = False
        else:
            delay = group.rebalance_timeout_ms()
        group.transition_to(GroupState.PREPARING_REBALANCE, self.clock())
        group.rebalance_timer = self.timers.call_later(delay, lambda: self._on_join_deadline(group))
        logger.info(
            "group %s: preparing to rebalance from generation %d: %s",
            group.group_id,
            group.generation_id,
            reason,
        )

    def _on_join_deadline(self, group: Group) -> None:
        group.rebalance_timer = None
        if not group.is_in(GroupState.PREPARING_REBALANCE):
            return
        if group.initial_delay_active:
            if group.new_member_added and group.initial_delay_remaining_ms > 0:
                group.new_member_added = False
                delay = min(
                    self.settings.initial_rebalance_delay_ms, group.initial_delay_remaining_ms
                )
                group.initial_delay_remaining_ms -= delay
                group.rebalance_timer = self.timers.call_later(
                    delay, lambda: self._on_join_deadline(group)
                )
                return
            group.initial_delay_active = False
        self._complete_join(group)

    def _try_complete_join(self, group: Group) -> None:
        if (
            group.is_in(GroupState.PREPARING_REBALANCE)
            and not group.initial_delay_active
            and group.has_all_members_joined()
        ):
            group.cancel_rebalance_timer()
            self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        # Dynamic members that did not rejoin in time are gone; static ones keep their place
        # until their session expires, so a restarting static member is not rebalanced out.
        for member in list(group.members.values()):
            if member.awaiting_join is None and not member.is_static:
                logger.info(
                    "group %s: member %s did not rejoin in time", group.group_id, member.member_id
                )
                member.cancel_session_timer()
                group.remove_member(member)
        if group.members and not group.maybe_elect_joined_leader():
            # Only static members that have not rejoined: wait for them (or their expiry).
            group.rebalance_timer = self.timers.call_later(
                group.rebalance_timeout_ms(), lambda: self._on_join_deadline(group)
            )
            return
        group.init_next_generation(self.clock())
        self.rebalances += 1
        if group.is_in(GroupState.EMPTY):
            logger.info("group %s is empty at generation %d", group.group_id, group.generation_id)
            self.store_group(group, None)
            return
        logger.info(
            "group %s: generation %d with %d members, protocol %s, leader %s",
            group.group_id,
            group.generation_id,
            len(group.members),
            group.protocol_name,
            group.leader_id,
        )
        everyone = group.current_members()
        for member in group.members.values():
            callback, member.awaiting_join = member.awaiting_join, None
            member.is_new = False
            if callback is not None:
                callback(
                    JoinResult(
                        None,
                        member.member_id,
                        group.generation_id,
                        group.protocol_type,
                        group.protocol_name,
                        group.leader_id or "",
                        everyone if member.member_id == group.leader_id else (),
                    )
                )
            self._arm_session_timer(group, member)
            group.pending_sync.add(member.member_id)
        # Members that never send SyncGroup are dropped after the rebalance timeout.
        generation = group.generation_id
        group.rebalance_timer = self.timers.call_later(
            group.rebalance_timeout_ms(), lambda: self._on_sync_deadline(group, generation)
        )

    def _on_sync_deadline(self, group: Group, generation: int) -> None:
        group.rebalance_timer = None
        if generation != group.generation_id or not group.pending_sync:
            return
        if not group.is_in(GroupState.COMPLETING_REBALANCE, GroupState.STABLE):
            return
        missing = sorted(group.pending_sync)
        logger.info("group %s: members %s never sent SyncGroup", group.group_id, missing)
        for member_id in missing:
            member = group.members.get(member_id)
            if member is not None:
                self._remove_member(group, member)
        group.pending_sync.clear()
        self._maybe_prepare_rebalance(group, f"members {missing} never synced")

    def _reset_assignments(self, group: Group, error: GroupError) -> None:
        """Answer every parked SyncGroup with `error` and forget the assignments."""
        for member in group.members.values():
            member.assignment = b""
            callback, member.awaiting_sync = member.awaiting_sync, None
            if callback is not None:
                callback(SyncResult(error))

    # ------------------------------------------------------------ SyncGroup

    def sync(self, request: SyncRequest, respond: SyncCallback) -> None:
        group = self.groups.get(request.group_id)
        if group is None:
            respond(SyncResult(GroupError.UNKNOWN_MEMBER_ID))
            return
        error = self._check_member(group, request.member_id, request.group_instance_id)
        if error is None and request.generation_id != group.generation_id:
            error = GroupError.ILLEGAL_GENERATION
        if error is None and (
            (request.protocol_type is not None and request.protocol_type != group.protocol_type)
            or (request.protocol_name is not None and request.protocol_name != group.protocol_name)
        ):
            error = GroupError.INCONSISTENT_GROUP_PROTOCOL
        if error is not None:
            respond(SyncResult(error))
            return
        member = group.members[request.member_id]
        if group.is_in(GroupState.PREPARING_REBALANCE):
            respond(SyncResult(GroupError.REBALANCE_IN_PROGRESS))
        elif group.is_in(GroupState.COMPLETING_REBALANCE):
            group.pending_sync.discard(member.member_id)
            if member.awaiting_sync is not None:
                member.awaiting_sync(SyncResult(GroupError.REBALANCE_IN_PROGRESS))
            member.awaiting_sync = respond
            if member.member_id == group.leader_id:
                self._complete_sync(group, request.assignments)
        elif group.is_in(GroupState.STABLE):
            group.pending_sync.discard(member.member_id)
            self._arm_session_timer(group, member)
            respond(SyncResult(None, group.protocol_type, group.protocol_name, member.assignment))
        else:
            respond(SyncResult(GroupError.UNKNOWN_MEMBER_ID))

    def _complete_sync(self, group: Group, assignments: Mapping[str, bytes]) -> None:
        for member in group.members.values():
            member.assignment = assignments.get(member.member_id, b"")
        generation = group.generation_id

        def stored(error: GroupError | None) -> None:
            # While the write was made durable the group stayed CompletingRebalance; if it
            # moved on meanwhile (a member joined or left), its parked syncs were answered
            # then, and this generation's assignment is history.
            if group.generation_id != generation or not group.is_in(
                GroupState.COMPLETING_REBALANCE
            ):
                return
            if error is not None:
                self._reset_assignments(group, error)
                self._maybe_prepare_rebalance(group, "storing the assignment failed")
                return
            self._become_stable(group)

        self.store_group(group, stored)

    def _become_stable(self, group: Group) -> None:
        group.transition_to(GroupState.STABLE, self.clock())
        logger.info("group %s: generation %d is stable", group.group_id, group.generation_id)
        for member in group.members.values():
            callback, member.awaiting_sync = member.awaiting_sync, None
            if callback is not None:
                callback(
                    SyncResult(None, group.protocol_type, group.protocol_name, member.assignment)
                )

    # ------------------------------------------------------------ Heartbeat

    def heartbeat(self, request: HeartbeatRequest) -> GroupError | None:
        group = self.groups.get(request.group_id)
        if group is None:
            return GroupError.UNKNOWN_MEMBER_ID
        error = self._check_member(group, request.member_id, request.group_instance_id)
        if error is not None:
            return error
        if request.generation_id != group.generation_id:
            return GroupError.ILLEGAL_GENERATION
        member = group.members[request.member_id]
        self._arm_session_timer(group, member)
        if group.is_in(GroupState.PREPARING_REBALANCE):
            return GroupError.REBALANCE_IN_PROGRESS
        return None

    def _check_member(
        self, group: Group, member_id: str, instance_id: str | None
    ) -> GroupError | None:
        if group.is_in(GroupState.DEAD):
            return GroupError.COORDINATOR_NOT_AVAILABLE
        if instance_id is not None and instance_id in group.static_members:
            if group.static_members[instance_id] != member_id:
                return GroupError.FENCED_INSTANCE_ID
        elif member_id not in group.members:
            return GroupError.UNKNOWN_MEMBER_ID
        return None

    def touch(self, group: Group, member_id: str) -> None:
        """Count any request from a member (an offset commit) as a heartbeat."""
        member = group.members.get(member_id)
        if member is not None:
            self._arm_session_timer(group, member)

    def _arm_session_timer(
        self, group: Group, member: Member, timeout_ms: int | None = None
    ) -> None:
        member.cancel_session_timer()
        delay = member.session_timeout_ms if timeout_ms is None else timeout_ms
        member.session_timer = self.timers.call_later(
            delay, lambda: self._on_session_expired(group, member)
        )

    def _on_session_expired(self, group: Group, member: Member) -> None:
        member.session_timer = None
        if group.members.get(member.member_id) is not member:
            return
        parked = member.awaiting_sync is not None or member.awaiting_join is not None
        if parked and not (member.is_new and member.awaiting_join is not None):
            # Its request is parked with us, so it is alive; check again later.
            self._arm_session_timer(group, member)
            return
        logger.info(
            "group %s: member %s timed out after %d ms",
            group.group_id,
            member.member_id,
            self.settings.new_member_join_timeout_ms
            if member.is_new
            else member.session_timeout_ms,
        )
        self._remove_member_and_rebalance(group, member, "session timeout")

    # ------------------------------------------------------------ LeaveGroup

    def leave(self, group_id: str, leaving: tuple[LeavingMember, ...]) -> LeaveResult:
        group = self.groups.get(group_id)
        if group is None:
            return LeaveResult(
                None,
                tuple(
                    (m.member_id, m.group_instance_id, GroupError.UNKNOWN_MEMBER_ID)
                    for m in leaving
                ),
            )
        if group.is_in(GroupState.DEAD):
            return LeaveResult(GroupError.COORDINATOR_NOT_AVAILABLE)
        results = []
        for wanted in leaving:
            error = self._leave_one(group, wanted)
            results.append((wanted.member_id, wanted.group_instance_id, error))
        return LeaveResult(None, tuple(results))

    def _leave_one(self, group: Group, wanted: LeavingMember) -> GroupError | None:
        member_id = wanted.member_id
        instance = wanted.group_instance_id
        if instance is not None:
            known = group.static_members.get(instance)
            if known is None:
                return GroupError.UNKNOWN_MEMBER_ID
            if member_id != UNKNOWN_MEMBER_ID and member_id != known:
                return GroupError.FENCED_INSTANCE_ID
            member_id = known  # an admin removing a static member by instance id alone
        if group.cancel_pending_member(member_id):
            self._try_complete_join(group)
            return None
        member = group.members.get(member_id)
        if member is None:
            return GroupError.UNKNOWN_MEMBER_ID
        reason = wanted.reason or "the member left"
        self._remove_member_and_rebalance(group, member, reason)
        return None

    def _remove_member(self, group: Group, member: Member) -> None:
        member.cancel_session_timer()
        group.remove_member(member)
        callback, member.awaiting_join = member.awaiting_join, None
        if callback is not None:
            callback(JoinResult(GroupError.UNKNOWN_MEMBER_ID, member.member_id))
        sync_callback, member.awaiting_sync = member.awaiting_sync, None
        if sync_callback is not None:
            sync_callback(SyncResult(GroupError.UNKNOWN_MEMBER_ID))

    def _remove_member_and_rebalance(self, group: Group, member: Member, reason: str) -> None:
        self._remove_member(group, member)
        logger.info("group %s: member %s removed: %s", group.group_id, member.member_id, reason)
        if group.is_in(GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance(group, f"{member.member_id} left ({reason})")
        self._try_complete_join(group)

    # ------------------------------------------------------------ housekeeping

    def forget_if_unused(self, group: Group) -> None:
        """Drop a group that holds nothing at all (say, after a refused first JoinGroup)."""
        if (
            group.is_in(GroupState.EMPTY)
            and not group.members
            and not group.pending_members
            and not group.offsets
            and group.generation_id == 0
            and self.groups.get(group.group_id) is group
        ):
            del self.groups[group.group_id]

    def shut_down_group(self, group: Group) -> None:
        """Cancel every timer of a group that is going away (deleted, expired, closing)."""
        group.cancel_rebalance_timer()
        for member in group.members.values():
            member.cancel_session_timer()
        for timer in group.pending_members.values():
            timer.cancel()
        group.pending_members.clear()
