"""A coordinator on manual timers and an in-memory store, and short-hands for driving it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from rafka.broker.groups import (
    CommitRequest,
    GroupCoordinator,
    GroupError,
    GroupSettings,
    HeartbeatRequest,
    JoinRequest,
    JoinResult,
    ManualTimers,
    OffsetToCommit,
    PendingResult,
    StoreError,
    SyncRequest,
    SyncResult,
)
from rafka.broker.groups.store import KeyValue, LoadedGroups, _apply

SESSION_MS = 10_000
REBALANCE_MS = 30_000


@dataclass
class FakeStore:
    """Keeps every record written, in order; can be told to fail. With `hold_durable`, a
    durable write returns a future (in `held`) that the test resolves, standing in for an
    fsync that has not finished yet; that needs a running event loop."""

    records: list[tuple[str, KeyValue]] = field(default_factory=list)
    topics: dict[str, int] = field(default_factory=lambda: {"t": 6, "u": 2})
    fail: StoreError | None = None
    durable_waits: int = 0
    hold_durable: bool = False
    held: list[asyncio.Future[None]] = field(default_factory=list)

    def write(
        self, group_id: str, records: Sequence[KeyValue], durable: bool
    ) -> Awaitable[None] | None:
        if self.fail is not None:
            raise self.fail
        self.records.extend((group_id, record) for record in records)
        if durable and self.hold_durable:
            self.durable_waits += 1
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.held.append(future)
            return future
        return None

    def load(self) -> LoadedGroups:
        loaded = LoadedGroups()
        for _, (key, value) in self.records:
            _apply(loaded, key, value)
        return loaded

    def partition_exists(self, topic: str, partition: int) -> bool:
        return 0 <= partition < self.topics.get(topic, 0)


class Harness:
    """A started coordinator; `advance(ms)` moves time and fires due timers."""

    def __init__(self, store: FakeStore | None = None, **settings: int) -> None:
        defaults = {"initial_rebalance_delay_ms": 0}
        self.settings = GroupSettings(**{**defaults, **settings})  # type: ignore[arg-type]
        self.timers = ManualTimers()
        self.store = store or FakeStore()
        self.coordinator = GroupCoordinator(self.store, self.settings, self.timers.clock)
        self.coordinator.load()
        self.coordinator.start(self.timers)

    def restart(self) -> Harness:
        """A new coordinator over the same store, as after a broker restart."""
        self.coordinator.close()
        return Harness(self.store, **{"initial_rebalance_delay_ms": 0})

    def advance(self, ms: int) -> None:
        self.timers.advance(ms)

    # ------------------------------------------------------------ membership

    def join(
        self,
        group: str = "g",
        member_id: str = "",
        *,
        instance: str | None = None,
        protocols: tuple[tuple[str, bytes], ...] = (("range", b"m"),),
        protocol_type: str = "consumer",
        session_ms: int = SESSION_MS,
        rebalance_ms: int = REBALANCE_MS,
        require_known: bool = True,
    ) -> list[JoinResult]:
        """Send a JoinGroup; the returned list fills in when the answer comes."""
        answers: list[JoinResult] = []
        request = JoinRequest(
            group,
            member_id,
            instance,
            protocol_type,
            protocols,
            session_ms,
            rebalance_ms,
            client_id="client",
            client_host="/127.0.0.1",
            require_known_member_id=require_known,
        )
        self.coordinator.join_group(request, answers.append)
        return answers

    def new_member(self, group: str = "g", **kwargs: object) -> list[JoinResult]:
        """The KIP-394 round trip: get a member id, then join with it."""
        first = self.join(group, **kwargs)  # type: ignore[arg-type]
        assert first and first[0].error is GroupError.MEMBER_ID_REQUIRED
        return self.join(group, first[0].member_id, **kwargs)  # type: ignore[arg-type]

    def sync(
        self,
        group: str,
        member_id: str,
        generation: int,
        assignments: dict[str, bytes] | None = None,
        instance: str | None = None,
    ) -> list[SyncResult]:
        answers: list[SyncResult] = []
        request = SyncRequest(group, member_id, instance, generation, assignments=assignments or {})
        self.coordinator.sync_group(request, answers.append)
        return answers

    def heartbeat(
        self, group: str, member_id: str, generation: int, instance: str | None = None
    ) -> GroupError | None:
        return self.coordinator.heartbeat(HeartbeatRequest(group, member_id, instance, generation))

    def commit(
        self,
        group: str,
        member_id: str = "",
        generation: int = -1,
        offsets: dict[tuple[str, int], int] | None = None,
        metadata: str | None = None,
        instance: str | None = None,
    ) -> dict[tuple[str, int], GroupError | None]:
        pending = self.coordinator.commit_offsets(
            CommitRequest(
                group,
                member_id,
                instance,
                generation,
                tuple(
                    OffsetToCommit(t, p, o, metadata=metadata)
                    for (t, p), o in (offsets or {("t", 0): 1}).items()
                ),
            )
        )
        return settle(pending)

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        found = self.coordinator.fetch_offsets(group, None)
        return {key: c.offset for key, c in found.offsets.items() if c is not None}

    def state(self, group: str = "g") -> str:
        summary = self.coordinator.describe_group(group)
        return "Dead" if summary is None else summary.state.value


def settle(pending: PendingResult) -> dict[tuple[str, int], GroupError | None]:
    if pending.durable is None:
        return pending.errors
    return asyncio.run(_settle(pending))


async def _settle(pending: PendingResult) -> dict[tuple[str, int], GroupError | None]:
    return await pending.settle()


def stable_group(h: Harness, size: int, group: str = "g") -> list[str]:
    """Form a Stable group of `size` dynamic members; returns their ids, leader first."""
    answers = [h.new_member(group) for _ in range(size)]
    h.advance(0)  # the (zero) initial delay
    results = [a[-1] for a in answers]
    assert all(r.error is None for r in results), results
    leader = next(r for r in results if r.members)
    ids = [leader.member_id] + [r.member_id for r in results if r is not leader]
    generation = leader.generation_id
    for member_id in ids:
        h.sync(
            group,
            member_id,
            generation,
            {m: m.encode() for m in ids} if member_id == ids[0] else None,
        )
    assert h.state(group) == "Stable"
    return ids
