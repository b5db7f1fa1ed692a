"""Committing, fetching, deleting and expiring offsets; deleting groups; reloading them all."""

from __future__ import annotations

import struct

from rafka.broker.groups import GroupError, LeavingMember, StoreError
from rafka.broker.groups.model import DAY_MS, MINUTE_MS
from tests.broker.groups.helpers import Harness, settle, stable_group


def subscription(*topics: str) -> bytes:
    """A ConsumerProtocolSubscription v0, as Java consumers send it."""
    out = struct.pack(">hi", 0, len(topics))
    for topic in topics:
        out += struct.pack(">h", len(topic)) + topic.encode()
    return out + struct.pack(">i", -1)


def consumer_group(h: Harness, topics: tuple[str, ...] = ("t",)) -> str:
    """A Stable one-member consumer group subscribed to `topics`; returns the member id.
    Its session is 30 minutes, so tests can heartbeat every 10."""
    answer = h.new_member(protocols=(("range", subscription(*topics)),), session_ms=30 * MINUTE_MS)
    h.advance(0)
    member = answer[0].member_id
    h.sync("g", member, 1, {member: b""})
    return member


def test_a_standalone_consumer_commits_and_fetches_with_its_metadata() -> None:
    h = Harness()
    errors = h.commit("solo", offsets={("t", 0): 5, ("t", 3): 9}, metadata="note")
    assert errors == {("t", 0): None, ("t", 3): None}
    found = h.coordinator.fetch_offsets("solo", [("t", 0), ("t", 1)])
    assert found.error is None
    committed = found.offsets[("t", 0)]
    assert committed is not None and (committed.offset, committed.metadata) == (5, "note")
    assert found.offsets[("t", 1)] is None
    assert h.committed("solo") == {("t", 0): 5, ("t", 3): 9}
    assert h.coordinator.fetch_offsets("never", None).offsets == {}


def test_members_commit_with_their_generation_and_nobody_else_can() -> None:
    h = Harness()
    a, _ = stable_group(h, 2)
    assert h.commit("g", a, 1) == {("t", 0): None}
    assert h.commit("g", "stranger", 1) == {("t", 0): GroupError.UNKNOWN_MEMBER_ID}
    assert h.commit("g", a, 0) == {("t", 0): GroupError.ILLEGAL_GENERATION}
    assert h.commit("g") == {("t", 0): GroupError.UNKNOWN_MEMBER_ID}  # not while it has members
    assert h.commit("gone", a, 3) == {("t", 0): GroupError.ILLEGAL_GENERATION}
    assert h.commit("", a, 1) == {("t", 0): GroupError.INVALID_GROUP_ID}
    assert h.committed("g") == {("t", 0): 1}


def test_commits_are_allowed_while_preparing_but_not_while_completing_a_rebalance() -> None:
    h = Harness()
    a, b = stable_group(h, 2)
    h.new_member()  # a third member: PreparingRebalance
    assert h.commit("g", a, 1, {("t", 1): 10}) == {("t", 1): None}  # eager revocation commits
    h.join("g", a)
    h.join("g", b)
    assert h.state() == "CompletingRebalance"
    assert h.commit("g", a, 2) == {("t", 0): GroupError.REBALANCE_IN_PROGRESS}


def test_bad_partitions_fail_alone() -> None:
    h = Harness(offset_metadata_max_bytes=10)
    errors = h.commit("g", offsets={("t", 0): 1, ("nope", 0): 1, ("t", 99): 1}, metadata="x" * 11)
    assert errors == {
        ("t", 0): GroupError.OFFSET_METADATA_TOO_LARGE,
        ("nope", 0): GroupError.OFFSET_METADATA_TOO_LARGE,
        ("t", 99): GroupError.OFFSET_METADATA_TOO_LARGE,
    }
    errors = h.commit("g", offsets={("t", 0): 1, ("nope", 0): 1, ("t", 99): 1}, metadata="short")
    assert errors == {
        ("t", 0): None,
        ("nope", 0): GroupError.UNKNOWN_TOPIC_OR_PARTITION,
        ("t", 99): GroupError.UNKNOWN_TOPIC_OR_PARTITION,
    }
    assert h.committed("g") == {("t", 0): 1}


def test_a_failed_write_is_reported_and_changes_nothing() -> None:
    h = Harness()
    h.commit("g", offsets={("t", 0): 1})
    h.store.fail = StoreError("disk gone")
    assert h.commit("g", offsets={("t", 0): 2}) == {("t", 0): GroupError.COORDINATOR_NOT_AVAILABLE}
    h.store.fail = StoreError("too big", too_large=True)
    assert h.commit("g", offsets={("t", 0): 3}) == {("t", 0): GroupError.INVALID_COMMIT_OFFSET_SIZE}
    h.store.fail = None
    assert h.committed("g") == {("t", 0): 1}


def test_offsets_and_groups_reload_last_value_wins() -> None:
    h = Harness()
    for offset in (1, 2, 3):
        h.commit("g", offsets={("t", 0): offset, ("u", 1): offset * 10})
    h.commit("other", offsets={("t", 0): 7})
    member = consumer_group(h)
    h.commit("g2", offsets={("t", 5): 4})
    settle(h.coordinator.delete_groups(["g2"]))
    h2 = h.restart()
    assert h2.committed("g") == {("t", 0): 3, ("u", 1): 30}
    assert h2.committed("other") == {("t", 0): 7}
    assert h2.committed("g2") == {}
    summary = h2.coordinator.describe_group("g")
    assert summary is not None and [m.member_id for m in summary.members] == [member]


def test_deleting_groups_needs_them_empty_and_known() -> None:
    h = Harness()
    stable_group(h, 1, "busy")
    h.commit("idle", offsets={("t", 0): 1})
    errors = settle(h.coordinator.delete_groups(["busy", "idle", "ghost"]))
    assert errors == {
        ("busy", -1): GroupError.NON_EMPTY_GROUP,
        ("idle", -1): None,
        ("ghost", -1): GroupError.GROUP_ID_NOT_FOUND,
    }
    assert h.coordinator.describe_group("idle") is None
    assert h.committed("idle") == {}
    assert [g.group_id for g in h.coordinator.list_groups()] == ["busy"]


def test_offset_delete_refuses_topics_the_group_still_consumes() -> None:
    h = Harness()
    member = consumer_group(h, ("t",))
    h.commit("g", member, 1, {("t", 0): 5, ("u", 0): 6})
    error, pending = h.coordinator.delete_offsets("g", [("t", 0), ("u", 0)])
    assert error is None
    assert settle(pending) == {("t", 0): GroupError.GROUP_SUBSCRIBED_TO_TOPIC, ("u", 0): None}
    assert h.committed("g") == {("t", 0): 5}
    missing, _ = h.coordinator.delete_offsets("ghost", [("t", 0)])
    assert missing is GroupError.GROUP_ID_NOT_FOUND


def test_offsets_of_an_empty_group_expire_after_the_retention_time() -> None:
    retention = 7 * DAY_MS
    h = Harness(
        offsets_retention_ms=retention,
        offsets_retention_check_ms=10 * MINUTE_MS,
        max_session_timeout_ms=30 * MINUTE_MS,
    )
    member = consumer_group(h)
    h.commit("g", member, 1, {("t", 0): 5})
    h.commit("solo", offsets={("t", 1): 2})
    for _ in range(retention // (10 * MINUTE_MS)):
        h.advance(10 * MINUTE_MS)
        assert h.heartbeat("g", member, 1) is None
    # A stable group's offsets stay; the standalone consumer's expire.
    assert h.committed("g") == {("t", 0): 5}
    assert h.coordinator.describe_group("solo") is None
    h.coordinator.leave_group("g", [LeavingMember(member)])
    assert h.state() == "Empty"
    h.advance(retention - 20 * MINUTE_MS)
    assert h.committed("g") == {("t", 0): 5}
    h.advance(20 * MINUTE_MS)
    assert h.coordinator.describe_group("g") is None
    assert h.coordinator.offsets_expired == 2
    assert h.restart().committed("g") == {}


def test_offsets_of_topics_a_stable_group_dropped_expire() -> None:
    h = Harness(offsets_retention_ms=DAY_MS, max_session_timeout_ms=30 * MINUTE_MS)
    member = consumer_group(h, ("t",))
    h.commit("g", member, 1, {("t", 0): 5, ("u", 0): 6})
    for _ in range(24 * 6):
        h.advance(10 * MINUTE_MS)
        h.heartbeat("g", member, 1)
    assert h.committed("g") == {("t", 0): 5}
