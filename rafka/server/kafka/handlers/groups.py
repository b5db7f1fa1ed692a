"""FindCoordinator and the group membership APIs: JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
DescribeGroups, ListGroups, DeleteGroups.

Each handler turns the kio request into the coordinator's plain values
(`rafka.broker.groups`) and the answer back into a response for the request's version. A
JoinGroup or SyncGroup may have to wait for the rest of the group; the coordinator then keeps
a callback, and the handler returns an awaitable that the connection answers in order. The
offset APIs are in `group_offsets.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from kio.schema.errors import ErrorCode

from rafka.broker.groups import (
    GroupCoordinator,
    GroupError,
    GroupState,
    HeartbeatRequest,
    JoinRequest,
    JoinResult,
    LeavingMember,
    SyncRequest,
    SyncResult,
)
from rafka.server.kafka.context import NO_THROTTLE, RequestContext
from rafka.server.kafka.handlers.metadata import kafka_brokers

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor

T = TypeVar("T")

KEY_TYPE_GROUP = 0
# Kafka reports "not requested" authorized operations as INT32_MIN.
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)
# Without an authorizer every principal may do every group operation: READ, DELETE, DESCRIBE
# (bits of Kafka's AclOperation codes 3, 6 and 8).
GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)
CLASSIC_GROUP_TYPE = "classic"


def error_code(error: GroupError | None) -> ErrorCode:
    """GroupError members are named after Kafka's error codes."""
    return ErrorCode.none if error is None else ErrorCode[error.name.lower()]


def milliseconds(value: timedelta) -> int:
    return int(value / timedelta(milliseconds=1))


def client_host(ctx: RequestContext) -> str:
    """The peer's address as Kafka reports it in DescribeGroups ("/127.0.0.1")."""
    return "/" + ctx.connection.peer.rsplit(":", 1)[0].strip("[]")


def coordinator_of(door: KafkaFrontDoor) -> GroupCoordinator | None:
    groups = door.groups
    return groups if groups is not None and groups.active else None


def parked(
    ctx: RequestContext,
    start: Callable[[Callable[[T], None]], None],
    render: Callable[[RequestContext, T], Any],
) -> Any:
    """Run a coordinator call that answers through a callback, now or later."""
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    def respond(result: T) -> None:
        if not future.done():  # cancelled when the client disconnected meanwhile
            future.set_result(result)

    start(respond)
    if future.done():
        return render(ctx, future.result())
    return _render_later(ctx, future, render)


async def _render_later(
    ctx: RequestContext, future: asyncio.Future[T], render: Callable[[RequestContext, T], Any]
) -> Any:
    return render(ctx, await future)


# ---------------------------------------------------------------- FindCoordinator


def handle_find_coordinator(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    """Which broker coordinates a group. In multi-broker mode every broker names the same one
    (`ClusterLayout.coordinator_id`), so all members of a group meet on one coordinator and
    its offsets live there; the other group APIs are served by whichever broker is asked."""
    key_type = getattr(request, "key_type", KEY_TYPE_GROUP)
    keys = request.coordinator_keys if ctx.api_version >= 4 else (request.key,)
    brokers = kafka_brokers(door)
    answers = []
    for key in keys:
        code, message = ErrorCode.none, None
        node = door.layout.coordinator_id(key) if door.layout.total_partitions else door.node_id
        if key_type != KEY_TYPE_GROUP:
            code = ErrorCode.invalid_request
            message = f"coordinator key type {key_type} is not supported (groups only)"
        elif node == door.node_id and coordinator_of(door) is None:
            code, message = ErrorCode.coordinator_not_available, "the coordinator is not running"
        elif node not in brokers:
            code = ErrorCode.coordinator_not_available
            message = (
                f"group {key!r} is coordinated by broker {node}, whose Kafka address this "
                "broker was not given (cluster.kafka_peers)"
            )
        found = code == ErrorCode.none
        host, port = brokers[node] if found else ("", -1)
        answers.append(
            {
                "key": key,
                "node_id": node if found else -1,
                "host": host,
                "port": port,
                "error_code": code,
                "error_message": message,
            }
        )
    if ctx.api_version >= 4:
        return ctx.response({"throttle_time": NO_THROTTLE, "coordinators": answers})
    return ctx.response({"throttle_time": NO_THROTTLE, **answers[0]})


# ---------------------------------------------------------------- JoinGroup / SyncGroup


def handle_join_group(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    session = milliseconds(request.session_timeout)
    join = JoinRequest(
        group_id=request.group_id,
        member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None),
        protocol_type=request.protocol_type,
        protocols=tuple((p.name, bytes(p.metadata)) for p in request.protocols),
        session_timeout_ms=session,
        # v0 has no rebalance timeout; Kafka uses the session timeout for it.
        rebalance_timeout_ms=milliseconds(request.rebalance_timeout)
        if ctx.api_version >= 1
        else session,
        client_id=ctx.client_id or "",
        client_host=client_host(ctx),
        require_known_member_id=ctx.api_version >= 4,
        reason=getattr(request, "reason", None),
    )
    coordinator = coordinator_of(door)
    if coordinator is None:
        return _join_response(ctx, JoinResult(GroupError.COORDINATOR_NOT_AVAILABLE, join.member_id))
    return parked(ctx, lambda respond: coordinator.join_group(join, respond), _join_response)


def _join_response(ctx: RequestContext, result: JoinResult) -> Any:
    protocol_name = result.protocol_name
    if protocol_name is None and ctx.api_version < 7:
        protocol_name = ""  # not nullable before v7
    return ctx.response(
        {
            "throttle_time": NO_THROTTLE,
            "error_code": error_code(result.error),
            "generation_id": result.generation_id,
            "protocol_type": result.protocol_type,
            "protocol_name": protocol_name,
            "leader": result.leader_id,
            "skip_assignment": result.skip_assignment,
            "member_id": result.member_id,
            "members": [
                {
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "metadata": m.metadata,
                }
                for m in result.members
            ],
        }
    )


def handle_sync_group(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    sync = SyncRequest(
        group_id=request.group_id,
        member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None),
        generation_id=request.generation_id,
        protocol_type=getattr(request, "protocol_type", None),
        protocol_name=getattr(request, "protocol_name", None),
        assignments={a.member_id: bytes(a.assignment) for a in request.assignments},
    )
    coordinator = coordinator_of(door)
    if coordinator is None:
        return _sync_response(ctx, SyncResult(GroupError.COORDINATOR_NOT_AVAILABLE))
    return parked(ctx, lambda respond: coordinator.sync_group(sync, respond), _sync_response)


def _sync_response(ctx: RequestContext, result: SyncResult) -> Any:
    return ctx.response(
        {
            "throttle_time": NO_THROTTLE,
            "error_code": error_code(result.error),
            "protocol_type": result.protocol_type,
            "protocol_name": result.protocol_name,
            "assignment": result.assignment,
        }
    )


# ---------------------------------------------------------------- Heartbeat / LeaveGroup


def handle_heartbeat(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    coordinator = coordinator_of(door)
    error = (
        GroupError.COORDINATOR_NOT_AVAILABLE
        if coordinator is None
        else coordinator.heartbeat(
            HeartbeatRequest(
                request.group_id,
                request.member_id,
                getattr(request, "group_instance_id", None),
                request.generation_id,
            )
        )
    )
    return ctx.response({"throttle_time": NO_THROTTLE, "error_code": error_code(error)})


def handle_leave_group(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    if ctx.api_version >= 3:
        leaving = [
            LeavingMember(m.member_id, m.group_instance_id, getattr(m, "reason", None))
            for m in request.members
        ]
    else:
        leaving = [LeavingMember(request.member_id)]
    coordinator = coordinator_of(door)
    if coordinator is None:
        top: GroupError | None = GroupError.COORDINATOR_NOT_AVAILABLE
        members: tuple[tuple[str, str | None, GroupError | None], ...] = ()
    else:
        result = coordinator.leave_group(request.group_id, leaving)
        top, members = result.error, result.members
    if ctx.api_version < 3 and top is None and members:
        top = members[0][2]  # one member: its error is the request's
    return ctx.response(
        {
            "throttle_time": NO_THROTTLE,
            "error_code": error_code(top),
            "members": [
                {"member_id": m, "group_instance_id": i, "error_code": error_code(e)}
                for m, i, e in members
            ],
        }
    )


# ---------------------------------------------------------------- administration


def handle_describe_groups(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    coordinator = coordinator_of(door)
    with_operations = getattr(request, "include_authorized_operations", False)
    described = []
    for group_id in request.groups:
        entry: dict[str, Any] = {
            "error_code": ErrorCode.none,
            "error_message": None,
            "group_id": group_id,
            "group_state": GroupState.DEAD.value,
            "protocol_type": "",
            "protocol_data": "",
            "members": [],
            "authorized_operations": GROUP_OPERATIONS
            if with_operations
            else AUTHORIZED_OPERATIONS_OMITTED,
        }
        summary = coordinator.describe_group(group_id) if coordinator is not None else None
        if coordinator is None:
            entry["error_code"] = ErrorCode.coordinator_not_available
        elif summary is None:
            if ctx.api_version >= 6:  # KIP-1043: older versions describe it as Dead
                entry["error_code"] = ErrorCode.group_id_not_found
                entry["error_message"] = f"group {group_id!r} does not exist"
        else:
            entry["group_state"] = summary.state.value
            entry["protocol_type"] = summary.protocol_type
            entry["protocol_data"] = summary.protocol_name
            entry["members"] = [
                {
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id,
                    "client_host": m.client_host,
                    "member_metadata": m.metadata,
                    "member_assignment": m.assignment,
                }
                for m in summary.members
            ]
        described.append(entry)
    return ctx.response({"throttle_time": NO_THROTTLE, "groups": described})


def handle_list_groups(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    coordinator = coordinator_of(door)
    if coordinator is None:
        return ctx.response(
            {
                "throttle_time": NO_THROTTLE,
                "error_code": ErrorCode.coordinator_not_available,
                "groups": [],
            }
        )
    listed = coordinator.list_groups(
        getattr(request, "states_filter", ()), getattr(request, "types_filter", ())
    )
    return ctx.response(
        {
            "throttle_time": NO_THROTTLE,
            "error_code": ErrorCode.none,
            "groups": [
                {
                    "group_id": g.group_id,
                    "protocol_type": g.protocol_type,
                    "group_state": g.state.value,
                    "group_type": CLASSIC_GROUP_TYPE,
                }
                for g in listed
            ],
        }
    )


def handle_delete_groups(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    names = list(request.groups_names)
    coordinator = coordinator_of(door)
    if coordinator is None:
        errors: dict[str, GroupError | None] = dict.fromkeys(
            names, GroupError.COORDINATOR_NOT_AVAILABLE
        )
        return _delete_groups_response(ctx, names, errors)
    pending = coordinator.delete_groups(names)

    async def after_fsync() -> Any:
        settled = await pending.settle()
        return _delete_groups_response(ctx, names, {g: e for (g, _), e in settled.items()})

    if pending.durable is None:
        return _delete_groups_response(ctx, names, {g: e for (g, _), e in pending.errors.items()})
    return after_fsync()


def _delete_groups_response(
    ctx: RequestContext, names: list[str], errors: dict[str, GroupError | None]
) -> Any:
    return ctx.response(
        {
            "throttle_time": NO_THROTTLE,
            "results": [{"group_id": g, "error_code": error_code(errors.get(g))} for g in names],
        }
    )
