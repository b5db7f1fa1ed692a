"""The group coordinator: every group this broker coordinates, their committed offsets, and
the operations front doors call.

Membership (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) is delegated to `Membership`; this
class owns the rest: loading groups and offsets from the offsets topic on start, committing,
fetching and deleting offsets, describing, listing and deleting groups, and expiring the
offsets of groups that stayed empty for `offsets_retention_ms`.

Durability: an offset commit is appended to the offsets topic before this returns (so a
following OffsetFetch on any connection sees it), and the front door acknowledges it only once
the returned `PendingResult` settles, which waits for the fsync when the offsets topic's flush
policy asks for one. Group metadata (members and assignments) written when a generation
completes gets the same treatment: the SyncGroup answers (and a static member's JoinGroup
answer) go out only once that write is durable in the same sense, so a broker that said
"Stable" comes back Stable after a power loss. The metadata written when a group becomes
Empty has nobody waiting for it and is not waited on.

Front doors are protocol-neutral clients of this: plain values in, plain values out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from rafka.broker.groups import codec
from rafka.broker.groups.consumer_protocol import CONSUMER_PROTOCOL_TYPE
from rafka.broker.groups.errors import GroupError
from rafka.broker.groups.group import Group, Member
from rafka.broker.groups.membership import JoinCallback, Membership, Stored, SyncCallback
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
    JoinRequest,
    JoinResult,
    LeaveResult,
    LeavingMember,
    MemberSummary,
    PendingResult,
    SyncRequest,
    SyncResult,
    TopicPartition,
)
from rafka.broker.groups.store import GroupStore, KeyValue, LoadedGroups, StoreError
from rafka.broker.groups.timers import TimerHandle, Timers

logger = logging.getLogger("rafka.groups")


class GroupCoordinator:
    def __init__(
        self, store: GroupStore, settings: GroupSettings, clock: Callable[[], int]
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.groups: dict[str, Group] = {}
        self._membership: Membership | None = None
        self._expiry_timer: TimerHandle | None = None
        self._loaded: LoadedGroups | None = None
        self.offsets_expired = 0

    # ------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Read the offsets topic (blocking). Call before `start`, before serving."""
        self._loaded = self.store.load()

    def start(self, timers: Timers) -> None:
        """Build the groups that were loaded and arm their timers; from the event loop."""
        self._membership = Membership(
            self.groups, self.settings, timers, self.clock, self._store_group
        )
        loaded = self._loaded or LoadedGroups()
        self._loaded = None
        for group_id, stored in loaded.groups.items():
            self.groups[group_id] = self._restore(group_id, stored)
        for group_id, offsets in loaded.offsets.items():
            group = self.groups.get(group_id)
            if group is None:
                group = self.groups[group_id] = Group(group_id, self.clock())
            group.offsets.update(offsets)
        self._schedule_expiry(timers)
        self.expire_offsets()

    def _restore(self, group_id: str, stored: codec.StoredGroup) -> Group:
        """A group as it was last stored: Stable with its members (whose sessions restart
        now, so members that come back keep their assignment), or Empty."""
        group = Group(
            group_id,
            stored.state_timestamp_ms if stored.state_timestamp_ms >= 0 else self.clock(),
            generation_id=stored.generation_id,
            protocol_type=stored.protocol_type or None,
            protocol_name=stored.protocol_name,
        )
        if stored.members and stored.protocol_name is not None:
            for item in stored.members:
                group.add_member(
                    Member(
                        item.member_id,
                        item.group_instance_id,
                        item.client_id,
                        item.client_host,
                        item.rebalance_timeout_ms,
                        item.session_timeout_ms,
                        stored.protocol_type,
                        ((stored.protocol_name, item.subscription),),
                        assignment=item.assignment,
                    )
                )
            group.leader_id = stored.leader_id if stored.leader_id in group.members else None
            group.leader_id = group.leader_id or next(iter(group.members))
            group.subscribed_topics = group.compute_subscribed_topics()
            group.state = GroupState.STABLE
            assert self._membership is not None
            for member in group.members.values():
                self._membership.touch(group, member.member_id)
        return group

    def close(self) -> None:
        """Cancel every timer; parked requests are dropped with their connections."""
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
        if self._membership is not None:
            for group in self.groups.values():
                self._membership.shut_down_group(group)
        self._membership = None

    @property
    def active(self) -> bool:
        return self._membership is not None

    def _schedule_expiry(self, timers: Timers) -> None:
        def run() -> None:
            try:
                self.expire_offsets()
            except Exception:
                logger.exception("offset expiry failed")
            self._schedule_expiry(timers)

        if self._membership is not None:
            self._expiry_timer = timers.call_later(self.settings.offsets_retention_check_ms, run)

    # ------------------------------------------------------------ membership

    def join_group(self, request: JoinRequest, respond: JoinCallback) -> None:
        if self._membership is None:
            respond(JoinResult(GroupError.COORDINATOR_NOT_AVAILABLE, request.member_id))
            return
        self._membership.join(request, respond)

    def sync_group(self, request: SyncRequest, respond: SyncCallback) -> None:
        if self._membership is None:
            respond(SyncResult(GroupError.COORDINATOR_NOT_AVAILABLE))
            return
        self._membership.sync(request, respond)

    def heartbeat(self, request: HeartbeatRequest) -> GroupError | None:
        if self._membership is None:
            return GroupError.COORDINATOR_NOT_AVAILABLE
        return self._membership.heartbeat(request)

    def leave_group(self, group_id: str, members: Sequence[LeavingMember]) -> LeaveResult:
        if self._membership is None:
            return LeaveResult(GroupError.COORDINATOR_NOT_AVAILABLE)
        return self._membership.leave(group_id, tuple(members))

    @property
    def rebalances(self) -> int:
        return self._membership.rebalances if self._membership is not None else 0

    def _store_group(self, group: Group, then: Stored | None) -> None:
        stored = codec.StoredGroup(
            group.protocol_type or "",
            group.generation_id,
            group.protocol_name,
            group.leader_id,
            group.state_timestamp_ms,
            tuple(
                codec.StoredMember(
                    m.member_id,
                    m.group_instance_id,
                    m.client_id,
                    m.client_host,
                    m.rebalance_timeout_ms,
                    m.session_timeout_ms,
                    m.metadata_for(group.protocol_name) if group.protocol_name else b"",
                    m.assignment,
                )
                for m in group.members.values()
            ),
        )
        record = (codec.encode_group_key(group.group_id), codec.encode_group_value(stored))
        try:
            wait = self.store.write(group.group_id, [record], durable=then is not None)
        except StoreError as exc:
            if then is not None:
                then(
                    GroupError.UNKNOWN_SERVER_ERROR
                    if exc.too_large
                    else GroupError.COORDINATOR_NOT_AVAILABLE
                )
            return
        if then is None:
            return
        if wait is None:
            then(None)
            return

        def done(future: asyncio.Future[None]) -> None:
            failed = future.cancelled() or future.exception() is not None
            if failed:
                logger.error("group %s: its metadata could not be made durable", group.group_id)
            then(GroupError.COORDINATOR_NOT_AVAILABLE if failed else None)

        asyncio.ensure_future(wait).add_done_callback(done)

    # ------------------------------------------------------------ offsets

    def commit_offsets(self, request: CommitRequest) -> PendingResult:
        keys = [(o.topic, o.partition) for o in request.offsets]
        error = self._check_commit(request)
        if error is not None:
            return PendingResult(dict.fromkeys(keys, error))
        assert self._membership is not None
        group = self.groups.get(request.group_id)
        if group is None:  # a standalone consumer (assign + commit) storing offsets here
            group = self.groups[request.group_id] = Group(request.group_id, self.clock())
        self._membership.touch(group, request.member_id)
        now = self.clock()
        errors: dict[TopicPartition, GroupError | None] = {}
        accepted: dict[TopicPartition, CommittedOffset] = {}
        for wanted in request.offsets:
            key = (wanted.topic, wanted.partition)
            metadata = wanted.metadata or ""
            if len(metadata.encode("utf-8")) > self.settings.offset_metadata_max_bytes:
                errors[key] = GroupError.OFFSET_METADATA_TOO_LARGE
            elif not self.store.partition_exists(wanted.topic, wanted.partition):
                errors[key] = GroupError.UNKNOWN_TOPIC_OR_PARTITION
            else:
                errors[key] = None
                accepted[key] = CommittedOffset(wanted.offset, wanted.leader_epoch, metadata, now)
        if not accepted:
            self._membership.forget_if_unused(group)
            return PendingResult(errors)
        records: list[KeyValue] = [
            (codec.encode_offset_key(group.group_id, t, p), codec.encode_offset_value(c))
            for (t, p), c in accepted.items()
        ]
        try:
            durable = self.store.write(group.group_id, records, durable=True)
        except StoreError as exc:
            failure = (
                GroupError.INVALID_COMMIT_OFFSET_SIZE
                if exc.too_large
                else GroupError.COORDINATOR_NOT_AVAILABLE
            )
            errors.update(dict.fromkeys(accepted, failure))
            self._membership.forget_if_unused(group)
            return PendingResult(errors)
        group.offsets.update(accepted)
        return PendingResult(errors, frozenset(accepted), durable)

    def _check_commit(self, request: CommitRequest) -> GroupError | None:
        """Kafka's validateOffsetCommit: who may commit for a group in which state."""
        if self._membership is None:
            return GroupError.COORDINATOR_NOT_AVAILABLE
        if not request.group_id:
            return GroupError.INVALID_GROUP_ID
        group = self.groups.get(request.group_id)
        if group is None:
            # No group: fine for a consumer that manages its own partitions; a member of a
            # group that is gone is from an older generation.
            return None if request.generation_id < 0 else GroupError.ILLEGAL_GENERATION
        if group.is_in(GroupState.DEAD):
            return GroupError.COORDINATOR_NOT_AVAILABLE
        if (
            request.generation_id >= 0
            or request.member_id != UNKNOWN_MEMBER_ID
            or request.group_instance_id is not None
        ):
            instance = request.group_instance_id
            if instance is not None and instance in group.static_members:
                if group.static_members[instance] != request.member_id:
                    return GroupError.FENCED_INSTANCE_ID
            elif request.member_id not in group.members:
                return GroupError.UNKNOWN_MEMBER_ID
            if request.generation_id != group.generation_id:
                return GroupError.ILLEGAL_GENERATION
        elif not group.is_in(GroupState.EMPTY):
            return GroupError.UNKNOWN_MEMBER_ID  # only members commit for an active group
        if group.is_in(GroupState.COMPLETING_REBALANCE):
            return GroupError.REBALANCE_IN_PROGRESS
        return None

    def fetch_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition] | None
    ) -> GroupOffsets:
        """Committed offsets of the given partitions (None: every partition with one)."""
        if self._membership is None:
            return GroupOffsets(GroupError.COORDINATOR_NOT_AVAILABLE, {})
        group = self.groups.get(group_id)
        committed = group.offsets if group is not None else {}
        if partitions is None:
            return GroupOffsets(None, dict(sorted(committed.items())))
        return GroupOffsets(None, {key: committed.get(key) for key in partitions})

    def delete_offsets(
        self, group_id: str, partitions: Sequence[TopicPartition]
    ) -> tuple[GroupError | None, PendingResult]:
        """OffsetDelete: (group-level error, per-partition results)."""
        group = self.groups.get(group_id)
        if self._membership is None:
            return GroupError.COORDINATOR_NOT_AVAILABLE, PendingResult({})
        if group is None or group.is_in(GroupState.DEAD):
            return GroupError.GROUP_ID_NOT_FOUND, PendingResult({})
        if not group.is_in(GroupState.EMPTY) and group.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return GroupError.NON_EMPTY_GROUP, PendingResult({})
        errors: dict[TopicPartition, GroupError | None] = {}
        doomed = []
        for key in partitions:
            if not group.is_in(GroupState.EMPTY) and group.is_subscribed_to(key[0]):
                errors[key] = GroupError.GROUP_SUBSCRIBED_TO_TOPIC
            else:
                errors[key] = None
                if key in group.offsets:
                    doomed.append(key)
        try:
            durable = self._delete_offsets(group, doomed)
        except StoreError:
            return GroupError.COORDINATOR_NOT_AVAILABLE, PendingResult({})
        return None, PendingResult(errors, frozenset(doomed), durable)

    def _delete_offsets(
        self, group: Group, doomed: Sequence[TopicPartition], durable: bool = True
    ) -> Awaitable[None] | None:
        if not doomed:
            return None
        records: list[KeyValue] = [
            (codec.encode_offset_key(group.group_id, t, p), None) for t, p in doomed
        ]
        wait = self.store.write(group.group_id, records, durable)
        for key in doomed:
            group.offsets.pop(key, None)
        return wait

    # ------------------------------------------------------------ administration

    def describe_group(self, group_id: str) -> GroupSummary | None:
        group = self.groups.get(group_id)
        if group is None:
            return None
        stable = group.is_in(GroupState.STABLE) and group.protocol_name is not None
        members = tuple(
            MemberSummary(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.metadata_for(group.protocol_name) if stable and group.protocol_name else b"",
                m.assignment if stable else b"",
            )
            for m in group.members.values()
        )
        return GroupSummary(
            group.group_id,
            group.state,
            group.protocol_type or "",
            (group.protocol_name or "") if stable else "",
            group.generation_id,
            group.leader_id or "",
            members,
        )

    def list_groups(
        self, states: Iterable[str] = (), types: Iterable[str] = ()
    ) -> list[GroupListing]:
        """Every group, optionally only those in the given states / of the given types
        (case-insensitive, as Kafka matches them). Every group here is a "classic" group."""
        wanted_states = {s.lower() for s in states}
        wanted_types = {t.lower() for t in types}
        listed = []
        for group in self.groups.values():
            if wanted_states and group.state.value.lower() not in wanted_states:
                continue
            if wanted_types and "classic" not in wanted_types:
                continue
            listed.append(GroupListing(group.group_id, group.protocol_type or "", group.state))
        return sorted(listed, key=lambda g: g.group_id)

    def delete_groups(self, group_ids: Sequence[str]) -> PendingResult:
        """DeleteGroups; the result is keyed by (group id, -1)."""
        errors: dict[TopicPartition, GroupError | None] = {}
        written: set[TopicPartition] = set()
        waits: list[Awaitable[None]] = []
        for group_id in group_ids:
            key = (group_id, -1)
            group = self.groups.get(group_id)
            if self._membership is None:
                errors[key] = GroupError.COORDINATOR_NOT_AVAILABLE
            elif group is None or group.is_in(GroupState.DEAD):
                errors[key] = GroupError.GROUP_ID_NOT_FOUND
            elif not group.is_in(GroupState.EMPTY):
                errors[key] = GroupError.NON_EMPTY_GROUP
            else:
                try:
                    wait = self._remove_group(group)
                except StoreError:
                    errors[key] = GroupError.COORDINATOR_NOT_AVAILABLE
                else:
                    errors[key] = None
                    written.add(key)
                    if wait is not None:
                        waits.append(wait)
        return PendingResult(errors, frozenset(written), _all_of(waits))

    def _remove_group(self, group: Group, durable: bool = True) -> Awaitable[None] | None:
        """Tombstone the group's offsets and metadata, and forget it (it becomes Dead)."""
        records: list[KeyValue] = [
            (codec.encode_offset_key(group.group_id, t, p), None) for t, p in group.offsets
        ]
        records.append((codec.encode_group_key(group.group_id), None))
        wait = self.store.write(group.group_id, records, durable)
        group.offsets.clear()
        group.transition_to(GroupState.DEAD, self.clock())
        if self._membership is not None:
            self._membership.shut_down_group(group)
        del self.groups[group.group_id]
        logger.info("group %s deleted", group.group_id)
        return wait

    # ------------------------------------------------------------ expiry

    def expire_offsets(self) -> int:
        """Kafka's cleanupGroupMetadata: drop offsets past retention, then empty groups that
        hold nothing. Returns how many offsets expired."""
        now = self.clock()
        retention = self.settings.offsets_retention_ms
        expired_total = 0
        for group in list(self.groups.values()):
            expired = [
                key
                for key, committed in group.offsets.items()
                if self._expires(group, key, committed, now, retention)
            ]
            try:
                if expired:
                    self._delete_offsets(group, expired, durable=False)
                    expired_total += len(expired)
                    logger.info("group %s: %d offsets expired", group.group_id, len(expired))
                if (
                    group.is_in(GroupState.EMPTY)
                    and not group.offsets
                    and not group.pending_members
                ):
                    self._remove_group(group, durable=False)
            except StoreError as exc:
                logger.warning("expiring group %s failed: %s", group.group_id, exc)
        self.offsets_expired += expired_total
        return expired_total

    @staticmethod
    def _expires(
        group: Group, key: TopicPartition, committed: CommittedOffset, now: int, retention: int
    ) -> bool:
        if group.protocol_type is None:
            # Standalone consumers: the clock starts at each commit.
            return now - committed.commit_timestamp_ms >= retention
        if group.is_in(GroupState.EMPTY):
            # Consumer groups: the clock starts when the group became empty.
            since = max(group.state_timestamp_ms, committed.commit_timestamp_ms)
            return now - since >= retention
        if group.is_in(GroupState.STABLE) and group.subscribed_topics is not None:
            # Topics the group no longer consumes: the clock starts at the last commit.
            return (
                key[0] not in group.subscribed_topics
                and now - committed.commit_timestamp_ms >= retention
            )
        return False


def _all_of(waits: list[Awaitable[None]]) -> Awaitable[None] | None:
    if not waits:
        return None

    async def wait_all() -> None:
        failure: BaseException | None = None
        for wait in waits:  # await every one, even after a failure
            try:
                await wait
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    return wait_all()
