"""OffsetCommit, OffsetFetch (one group, or several from v8) and OffsetDelete.

A commit is appended to `__consumer_offsets` while the handler runs, so an OffsetFetch that
follows it on any connection sees it; the response waits only for the fsync, and only when
the offsets topic's flush policy asks for one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rafka.broker.errors import BrokerError
from rafka.broker.groups import (
    CommitRequest,
    CommittedOffset,
    GroupError,
    GroupOffsets,
    OffsetToCommit,
    TopicPartition,
)
from rafka.server.kafka.context import NO_THROTTLE, RequestContext
from rafka.server.kafka.handlers.groups import coordinator_of, error_code
from rafka.server.kafka.ownership import ensure_share

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor

NO_OFFSET = -1


def _by_topic(keys: Iterable[TopicPartition], partition_entry: Any) -> list[dict[str, Any]]:
    """Group per-partition entries under their topic, keeping the order topics came in."""
    topics: dict[str, list[dict[str, Any]]] = {}
    for topic, partition in keys:
        topics.setdefault(topic, []).append(partition_entry(topic, partition))
    return [{"name": name, "partitions": entries} for name, entries in topics.items()]


# ---------------------------------------------------------------- OffsetCommit


def handle_offset_commit(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    offsets = tuple(
        OffsetToCommit(
            topic.name,
            part.partition_index,
            part.committed_offset,
            getattr(part, "committed_leader_epoch", -1),
            part.committed_metadata,
        )
        for topic in request.topics
        for part in topic.partitions
    )
    keys = [(o.topic, o.partition) for o in offsets]
    for topic_name in {o.topic for o in offsets}:
        # The coordinator checks each partition exists here; in multi-broker mode a topic
        # may not have reached this broker yet. A bad name is reported per partition below.
        with contextlib.suppress(BrokerError):
            ensure_share(door, topic_name)
    coordinator = coordinator_of(door)
    if coordinator is None:
        return _commit_response(
            ctx, keys, dict.fromkeys(keys, GroupError.COORDINATOR_NOT_AVAILABLE)
        )
    pending = coordinator.commit_offsets(
        CommitRequest(
            request.group_id,
            request.member_id,
            getattr(request, "group_instance_id", None),
            request.generation_id_or_member_epoch,
            offsets,
        )
    )
    if pending.durable is None:
        return _commit_response(ctx, keys, pending.errors)

    async def after_fsync() -> Any:
        return _commit_response(ctx, keys, await pending.settle())

    return after_fsync()


def _commit_response(
    ctx: RequestContext, keys: list[TopicPartition], errors: dict[TopicPartition, GroupError | None]
) -> Any:
    topics = _by_topic(
        keys,
        lambda t, p: {"partition_index": p, "error_code": error_code(errors.get((t, p)))},
    )
    return ctx.response({"throttle_time": NO_THROTTLE, "topics": topics})


# ---------------------------------------------------------------- OffsetFetch


def handle_offset_fetch(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    if ctx.api_version >= 8:
        groups = [
            {
                "group_id": group.group_id,
                **_fetch_group(door, ctx, group.group_id, group.topics),
            }
            for group in request.groups
        ]
        return ctx.response({"throttle_time": NO_THROTTLE, "groups": groups})
    answer = _fetch_group(door, ctx, request.group_id, request.topics)
    return ctx.response({"throttle_time": NO_THROTTLE, **answer})


def _fetch_group(
    door: KafkaFrontDoor, ctx: RequestContext, group_id: str, topics: Any
) -> dict[str, Any]:
    """One group's answer: {"topics": [...], "error_code": ...}."""
    wanted = None if topics is None else [(t.name, p) for t in topics for p in t.partition_indexes]
    coordinator = coordinator_of(door)
    found = (
        GroupOffsets(GroupError.COORDINATOR_NOT_AVAILABLE, {})
        if coordinator is None
        else coordinator.fetch_offsets(group_id, wanted)
    )
    keys = wanted if wanted is not None else list(found.offsets)
    # v1 has no group-level error: report it on every partition instead.
    partition_error = found.error if ctx.api_version < 2 else None

    def entry(topic: str, partition: int) -> dict[str, Any]:
        committed: CommittedOffset | None = found.offsets.get((topic, partition))
        return {
            "partition_index": partition,
            "committed_offset": committed.offset if committed else NO_OFFSET,
            "committed_leader_epoch": committed.leader_epoch if committed else -1,
            "metadata": committed.metadata if committed else "",
            "error_code": error_code(partition_error),
        }

    return {"topics": _by_topic(keys, entry), "error_code": error_code(found.error)}


# ---------------------------------------------------------------- OffsetDelete


def handle_offset_delete(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    keys = [(t.name, p.partition_index) for t in request.topics for p in t.partitions]
    coordinator = coordinator_of(door)
    if coordinator is None:
        return _delete_response(ctx, GroupError.COORDINATOR_NOT_AVAILABLE, [], {})
    group_error, pending = coordinator.delete_offsets(request.group_id, keys)
    if group_error is not None:
        return _delete_response(ctx, group_error, [], {})
    if pending.durable is None:
        return _delete_response(ctx, None, keys, pending.errors)

    async def after_fsync() -> Any:
        return _delete_response(ctx, None, keys, await pending.settle())

    return after_fsync()


def _delete_response(
    ctx: RequestContext,
    group_error: GroupError | None,
    keys: list[TopicPartition],
    errors: dict[TopicPartition, GroupError | None],
) -> Any:
    topics = _by_topic(
        keys,
        lambda t, p: {"partition_index": p, "error_code": error_code(errors.get((t, p)))},
    )
    return ctx.response(
        {"throttle_time": NO_THROTTLE, "error_code": error_code(group_error), "topics": topics}
    )
