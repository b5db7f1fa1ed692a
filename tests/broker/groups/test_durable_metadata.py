"""Group metadata written when a generation completes is as durable as an offset commit before
anyone is told the group is Stable: SyncGroup answers (and a restarted static member's
JoinGroup answer) wait for the write's fsync when the offsets topic asks for one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rafka.broker import Broker, BrokerSettings
from rafka.broker.groups import (
    OFFSETS_TOPIC,
    GroupCoordinator,
    GroupError,
    GroupSettings,
    JoinRequest,
    JoinResult,
    ManualTimers,
    OffsetsTopicStore,
    SyncRequest,
    SyncResult,
)
from rafka.broker.groups.store import OFFSETS_TOPIC_CONFIGS, partition_for_group
from rafka.log import DiskLog
from tests.broker.groups.helpers import FakeStore, Harness


def two_members_joined(h: Harness) -> tuple[str, str]:
    """Two dynamic members in generation 1, CompletingRebalance; (leader, follower)."""
    answers = [h.new_member() for _ in range(2)]
    h.advance(0)
    results = [a[-1] for a in answers]
    leader = next(r for r in results if r.members)
    follower = next(r for r in results if r is not leader)
    return leader.member_id, follower.member_id


def test_sync_answers_wait_until_the_assignment_is_durable() -> None:
    async def scenario() -> None:
        h = Harness(FakeStore(hold_durable=True))
        leader, follower = two_members_joined(h)
        parked = h.sync("g", follower, 1)
        from_leader = h.sync("g", leader, 1, {leader: b"L", follower: b"F"})
        assert parked == [] and from_leader == []
        assert h.state() == "CompletingRebalance"
        assert h.heartbeat("g", leader, 1) is None  # not a rebalance: members just wait
        (fsync,) = h.store.held
        fsync.set_result(None)
        await asyncio.sleep(0)
        assert [r.assignment for r in parked + from_leader] == [b"F", b"L"]
        assert h.state() == "Stable"

    asyncio.run(scenario())


def test_a_failed_fsync_fails_the_sync_and_the_group_rebalances() -> None:
    async def scenario() -> None:
        h = Harness(FakeStore(hold_durable=True))
        leader, follower = two_members_joined(h)
        parked = h.sync("g", follower, 1)
        from_leader = h.sync("g", leader, 1, {leader: b"L", follower: b"F"})
        h.store.held[0].set_exception(OSError("disk gone"))
        await asyncio.sleep(0)
        assert {r.error for r in parked + from_leader} == {GroupError.COORDINATOR_NOT_AVAILABLE}
        assert h.state() == "PreparingRebalance"

    asyncio.run(scenario())


def test_a_durable_write_that_completes_after_the_group_moved_on_changes_nothing() -> None:
    async def scenario() -> None:
        h = Harness(FakeStore(hold_durable=True))
        leader, follower = two_members_joined(h)
        parked = h.sync("g", follower, 1)
        h.sync("g", leader, 1, {leader: b"L", follower: b"F"})
        newcomer = h.new_member()  # a rebalance starts while the fsync runs
        assert parked[0].error is GroupError.REBALANCE_IN_PROGRESS
        h.store.held[0].set_result(None)
        await asyncio.sleep(0)
        assert h.state() == "PreparingRebalance" and newcomer == []
        assert len(parked) == 1

    asyncio.run(scenario())


def test_a_restarted_static_member_is_answered_once_its_takeover_is_durable() -> None:
    async def scenario() -> None:
        h = Harness(FakeStore(hold_durable=True))
        a_first = h.join("g", instance="a")
        h.advance(0)
        a = a_first[0].member_id
        h.sync("g", a, 1, {a: b"A"}, instance="a")
        h.store.held[0].set_result(None)
        await asyncio.sleep(0)
        assert h.state() == "Stable"
        restarted = h.join("g", instance="a")
        assert restarted == []
        h.store.held[1].set_result(None)
        await asyncio.sleep(0)
        assert restarted[0].error is None and restarted[0].member_id != a
        # A failed write gives the old member its place back.
        again = h.join("g", instance="a")
        h.store.held[2].set_exception(OSError("disk gone"))
        await asyncio.sleep(0)
        assert again[0].error is GroupError.COORDINATOR_NOT_AVAILABLE
        assert h.heartbeat("g", restarted[0].member_id, 1, instance="a") is None

    asyncio.run(scenario())


def test_without_an_fsync_policy_the_answers_come_at_once() -> None:
    h = Harness()
    leader, follower = two_members_joined(h)
    answer = h.sync("g", leader, 1, {leader: b"L", follower: b"F"})
    assert answer[0].assignment == b"L" and h.store.durable_waits == 0


def test_on_a_real_offsets_topic_the_sync_waits_for_its_fsync(tmp_path: Path) -> None:
    """flush.messages=1 on __consumer_offsets: the SyncGroup answer is only sent once the log
    has fsynced the group's metadata record (its recovery point covers it)."""

    async def scenario() -> None:
        broker = Broker(BrokerSettings(data_dir=tmp_path))
        broker.open()
        broker.create_topic("t", 1)
        settings = GroupSettings(offsets_topic_partitions=1, initial_rebalance_delay_ms=0)
        store = OffsetsTopicStore(broker, settings)
        store.ensure_topic()
        broker.set_topic_configs(OFFSETS_TOPIC, {**OFFSETS_TOPIC_CONFIGS, "flush.messages": "1"})
        timers = ManualTimers()
        coordinator = GroupCoordinator(store, settings, timers.clock)
        coordinator.load()
        coordinator.start(timers)
        joined: list[JoinResult] = []
        request = JoinRequest(
            "g",
            "",
            None,
            "consumer",
            (("range", b"m"),),
            10_000,
            30_000,
            client_id="c",
            client_host="/127.0.0.1",
            require_known_member_id=False,
        )
        coordinator.join_group(request, joined.append)
        timers.advance(0)
        member = joined[0].member_id
        log = broker.get_partition(OFFSETS_TOPIC, partition_for_group("g", 1)).log
        assert isinstance(log, DiskLog)
        synced: list[SyncResult] = []
        coordinator.sync_group(
            SyncRequest("g", member, None, 1, assignments={member: b"A"}), synced.append
        )
        written_end = log.log_end_offset
        assert synced == []  # the fsync runs on a worker thread: nothing is answered yet
        for _ in range(500):  # a bound, not a timing check
            if synced:
                break
            await asyncio.sleep(0.01)
        assert synced and synced[0].error is None and synced[0].assignment == b"A"
        assert log.recovery_point >= written_end
        coordinator.close()
        await broker.close()

    asyncio.run(scenario())
