"""The rebalance protocol on manual timers: joins, syncs, heartbeats, leaves, expiry, static
members. Every answer is checked against what Kafka's coordinator would send."""

from __future__ import annotations

from rafka.broker.groups import GroupError, LeavingMember
from tests.broker.groups.helpers import REBALANCE_MS, SESSION_MS, Harness, stable_group


def test_first_join_asks_for_a_member_id_then_forms_generation_one() -> None:
    h = Harness()
    first = h.join("g")
    assert first[0].error is GroupError.MEMBER_ID_REQUIRED
    member_id = first[0].member_id
    assert member_id.startswith("client-")
    answer = h.join("g", member_id)
    h.advance(0)
    (result,) = answer
    assert result.error is None
    assert (result.generation_id, result.protocol_name, result.leader_id) == (1, "range", member_id)
    assert [(m.member_id, m.metadata) for m in result.members] == [(member_id, b"m")]
    synced = h.sync("g", member_id, 1, {member_id: b"all of it"})
    assert synced[0].error is None and synced[0].assignment == b"all of it"
    assert h.state() == "Stable"


def test_old_join_versions_join_without_the_member_id_round_trip() -> None:
    h = Harness()
    answer = h.join("g", require_known=False)
    h.advance(0)
    assert answer[0].error is None and answer[0].generation_id == 1


def test_three_members_share_one_generation_and_followers_wait_for_the_leader() -> None:
    h = Harness()
    answers = [h.new_member() for _ in range(3)]
    h.advance(0)
    results = [a[0] for a in answers]
    assert {r.generation_id for r in results} == {1}
    leaders = [r for r in results if r.members]
    assert len(leaders) == 1 and len(leaders[0].members) == 3
    ids = [r.member_id for r in results]
    followers = [m for m in ids if m != leaders[0].member_id]
    parked = h.sync("g", followers[0], 1)
    assert parked == []  # waits for the leader's assignment
    h.sync("g", leaders[0].member_id, 1, {m: m.encode() for m in ids})
    assert parked[0].assignment == followers[0].encode()
    assert h.sync("g", followers[1], 1)[0].assignment == followers[1].encode()
    assert h.state() == "Stable"


def test_a_new_member_makes_everyone_rejoin_for_the_next_generation() -> None:
    h = Harness()
    a, b = stable_group(h, 2)
    joining = h.new_member()
    assert joining == [] and h.state() == "PreparingRebalance"
    assert h.heartbeat("g", a, 1) is GroupError.REBALANCE_IN_PROGRESS
    assert h.sync("g", b, 1)[0].error is GroupError.REBALANCE_IN_PROGRESS
    rejoin_a, rejoin_b = h.join("g", a), h.join("g", b)
    (new,) = joining
    assert {new.generation_id, rejoin_a[0].generation_id, rejoin_b[0].generation_id} == {2}
    assert h.heartbeat("g", a, 1) is GroupError.ILLEGAL_GENERATION


def test_members_that_do_not_rejoin_in_time_are_dropped() -> None:
    h = Harness()
    a, b = stable_group(h, 2)
    answer = h.join("g", a)  # a leader's JoinGroup in a Stable group forces a rebalance
    assert h.state() == "PreparingRebalance"
    for _ in range(REBALANCE_MS // 5000):
        # b stays alive but ignores REBALANCE_IN_PROGRESS and never rejoins.
        assert h.heartbeat("g", b, 1) is GroupError.REBALANCE_IN_PROGRESS
        h.advance(5000)
    assert [m.member_id for m in answer[0].members] == [a]
    assert h.heartbeat("g", b, 2) is GroupError.UNKNOWN_MEMBER_ID


def test_a_member_that_stops_heartbeating_is_removed_after_its_session_timeout() -> None:
    h = Harness()
    a, _b = stable_group(h, 2)
    for _ in range(4):
        h.advance(SESSION_MS // 2)
        assert h.heartbeat("g", a, 1) in (None, GroupError.REBALANCE_IN_PROGRESS)
    assert h.state() == "PreparingRebalance"  # b expired
    answer = h.join("g", a)
    assert answer[0].error is None and answer[0].generation_id == 2
    assert [m.member_id for m in answer[0].members] == [a]


def test_leaving_triggers_a_rebalance_and_the_last_one_out_empties_the_group() -> None:
    h = Harness()
    a, b = stable_group(h, 2)
    result = h.coordinator.leave_group("g", [LeavingMember(b)])
    assert result.members == ((b, None, None),)
    assert h.state() == "PreparingRebalance"
    h.join("g", a)
    assert h.state() == "CompletingRebalance"
    h.coordinator.leave_group("g", [LeavingMember(a)])
    assert h.state() == "Empty"
    unknown = h.coordinator.leave_group("g", [LeavingMember("nobody")])
    assert unknown.members == (("nobody", None, GroupError.UNKNOWN_MEMBER_ID),)


def test_the_protocol_is_chosen_from_what_every_member_supports() -> None:
    h = Harness()
    both = (("cooperative-sticky", b"c"), ("range", b"r"))
    first = h.new_member(protocols=both)
    second = h.new_member(protocols=(("range", b"r2"), ("cooperative-sticky", b"c2")))
    h.advance(0)
    # One vote each for the two common protocols: the earliest member's favourite wins.
    assert first[0].protocol_name == second[0].protocol_name == "cooperative-sticky"
    refused = h.join(protocols=(("roundrobin", b""),))
    assert refused[0].error is GroupError.INCONSISTENT_GROUP_PROTOCOL
    other_type = h.join(protocol_type="connect", protocols=both)
    assert other_type[0].error is GroupError.INCONSISTENT_GROUP_PROTOCOL
    assert h.join("x", protocols=())[0].error is GroupError.INCONSISTENT_GROUP_PROTOCOL


def test_requests_from_strangers_and_stale_generations_are_refused() -> None:
    h = Harness(max_group_size=2)
    a, _ = stable_group(h, 2)
    assert h.heartbeat("g", "stranger", 1) is GroupError.UNKNOWN_MEMBER_ID
    assert h.heartbeat("g", a, 0) is GroupError.ILLEGAL_GENERATION
    assert h.heartbeat("nope", a, 1) is GroupError.UNKNOWN_MEMBER_ID
    assert h.sync("g", a, 7)[0].error is GroupError.ILLEGAL_GENERATION
    assert h.sync("nope", a, 1)[0].error is GroupError.UNKNOWN_MEMBER_ID
    assert h.join("g", "stranger")[0].error is GroupError.UNKNOWN_MEMBER_ID
    assert h.join("nope", "stranger")[0].error is GroupError.UNKNOWN_MEMBER_ID
    assert h.join("g")[0].error is GroupError.GROUP_MAX_SIZE_REACHED
    assert h.join("g2", session_ms=10)[0].error is GroupError.INVALID_SESSION_TIMEOUT
    assert h.join("")[0].error is GroupError.INVALID_GROUP_ID
    assert h.heartbeat("g", a, 1) is None  # the group never noticed
    assert h.coordinator.describe_group("g2") is None  # refused joins leave nothing behind


def test_a_member_id_that_is_never_used_expires() -> None:
    h = Harness()
    h.join("g")
    assert h.coordinator.describe_group("g") is not None
    h.advance(SESSION_MS)
    assert h.coordinator.describe_group("g") is None


def test_a_member_that_never_syncs_is_dropped_after_the_rebalance_timeout() -> None:
    h = Harness()
    answers = [h.new_member() for _ in range(2)]
    h.advance(0)
    leader = next(a[0] for a in answers if a[0].members)
    follower = next(a[0] for a in answers if not a[0].members)
    h.sync("g", leader.member_id, 1, {})
    for _ in range(REBALANCE_MS // 5000):
        h.advance(5000)
        h.heartbeat("g", leader.member_id, 1)
        h.heartbeat("g", follower.member_id, 1)  # heartbeats alone do not count as a sync
    assert h.state() == "PreparingRebalance"
    assert h.heartbeat("g", follower.member_id, 1) is GroupError.UNKNOWN_MEMBER_ID


def test_a_restarted_static_member_gets_its_assignment_back_without_a_rebalance() -> None:
    h = Harness()
    a_first = h.join("g", instance="a")
    b_first = h.join("g", instance="b")
    h.advance(0)
    a, b = a_first[0].member_id, b_first[0].member_id
    leader, follower = (a, b) if a_first[0].members else (b, a)
    h.sync("g", leader, 1, {a: b"A", b: b"B"}, instance="a" if leader == a else "b")
    h.sync("g", follower, 1, instance="b" if leader == a else "a")
    rebalances = h.coordinator.rebalances

    restarted = h.join("g", instance="a")  # a new process: no member id yet
    (answer,) = restarted
    assert answer.error is None and answer.generation_id == 1
    assert answer.member_id != a and answer.leader_id == leader  # the old leader id
    assert h.sync("g", answer.member_id, 1, instance="a")[0].assignment == b"A"
    assert h.state() == "Stable" and h.coordinator.rebalances == rebalances
    assert h.heartbeat("g", b, 1, instance="b") is None
    assert h.heartbeat("g", a, 1, instance="a") is GroupError.FENCED_INSTANCE_ID
    assert h.join("g", a, instance="a")[0].error is GroupError.FENCED_INSTANCE_ID


def test_a_static_member_keeps_its_place_through_a_rebalance_it_misses() -> None:
    h = Harness()
    long_session = 2 * REBALANCE_MS
    a_first = h.join("g", instance="a", session_ms=long_session)
    b_first = h.join("g", instance="b", session_ms=long_session)
    h.advance(0)
    a, b = a_first[0].member_id, b_first[0].member_id
    leader = a if a_first[0].members else b
    h.sync("g", leader, 1, {a: b"A", b: b"B"})
    joiner = h.new_member()
    rejoined = h.join("g", a, instance="a", session_ms=long_session)
    h.advance(REBALANCE_MS)  # b (static) never rejoined, yet stays a member
    assert joiner[0].generation_id == rejoined[0].generation_id == 2
    leader_view = joiner[0].members or rejoined[0].members
    assert {m.member_id for m in leader_view} == {a, b, joiner[0].member_id}
    leader_id = joiner[0].leader_id
    h.sync("g", leader_id, 2, {})
    h.sync("g", a if leader_id != a else joiner[0].member_id, 2)
    for _ in range(REBALANCE_MS // 5000):  # ...but it must come back within the deadline
        h.heartbeat("g", a, 2)
        h.heartbeat("g", joiner[0].member_id, 2)
        h.advance(5000)
    summary = h.coordinator.describe_group("g")
    assert summary is not None and b not in [m.member_id for m in summary.members]


def test_the_first_rebalance_waits_for_members_arriving_within_the_initial_delay() -> None:
    h = Harness(initial_rebalance_delay_ms=3000)
    first = h.new_member()
    h.advance(2000)
    second = h.new_member()
    h.advance(2000)
    assert first == [] and second == []  # the delay was extended for the second member
    h.advance(2000)
    assert first[0].generation_id == second[0].generation_id == 1


def test_a_stable_group_survives_a_coordinator_restart() -> None:
    h = Harness()
    a, b = stable_group(h, 2)
    h2 = h.restart()
    assert h2.state() == "Stable"
    assert h2.heartbeat("g", a, 1) is None
    assert h2.sync("g", b, 1)[0].assignment == b.encode()
    h2.advance(SESSION_MS // 2)
    assert h2.heartbeat("g", a, 1) is None
    h2.advance(SESSION_MS // 2)  # b never came back
    assert h2.state() == "PreparingRebalance"
