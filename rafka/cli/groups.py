"""`rafka groups list` and `rafka groups describe GROUP`: consumer groups, their members and
their lag, asked of a broker over the Kafka protocol and shown as tables.

Lag per partition is the partition's log end offset (the high watermark ListOffsets reports
for "latest", which is what a consumer can read up to) minus the group's committed offset; a
partition without a committed offset shows "-", as Kafka's kafka-consumer-groups.sh does.
`--json` prints the same facts for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from kio.schema.describe_groups.v5.request import DescribeGroupsRequest
from kio.schema.errors import ErrorCode
from kio.schema.list_groups.v4.request import ListGroupsRequest
from kio.schema.list_offsets.v7.request import (
    ListOffsetsPartition,
    ListOffsetsRequest,
    ListOffsetsTopic,
)
from kio.schema.offset_fetch.v7.request import OffsetFetchRequest
from kio.schema.types import BrokerId, GroupId, TopicName
from kio.static.primitive import i8, i32, i64
from rich.console import Console
from rich.table import Table

from rafka.broker.groups.consumer_protocol import CONSUMER_PROTOCOL_TYPE, assigned_partitions
from rafka.cli.kafka_client import KafkaClient, KafkaClientError

LIST_GROUPS, DESCRIBE_GROUPS, OFFSET_FETCH, LIST_OFFSETS = 16, 15, 9, 2
LATEST = -1
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


@dataclass
class MemberRow:
    member_id: str
    group_instance_id: str | None
    client_id: str
    host: str
    partitions: list[tuple[str, int]]


@dataclass
class PartitionRow:
    topic: str
    partition: int
    committed: int | None
    log_end: int | None
    lag: int | None
    member_id: str | None
    host: str | None
    client_id: str | None


@dataclass
class GroupDescription:
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    members: list[MemberRow] = field(default_factory=list)
    partitions: list[PartitionRow] = field(default_factory=list)


class GroupToolError(Exception):
    pass


def _check(code: int, what: str) -> None:
    if code != ErrorCode.none:
        raise GroupToolError(f"{what}: {ErrorCode(code).name.upper()}")


def list_groups(client: KafkaClient, states: list[str] | None = None) -> list[dict[str, str]]:
    response = client.call(LIST_GROUPS, 4, ListGroupsRequest(states_filter=tuple(states or ())))
    _check(response.error_code, "ListGroups")
    return sorted(
        (
            {"group": g.group_id, "state": g.group_state, "protocol_type": g.protocol_type}
            for g in response.groups
        ),
        key=lambda row: row["group"],
    )


def describe_group(client: KafkaClient, group_id: str) -> GroupDescription:
    response = client.call(
        DESCRIBE_GROUPS,
        5,
        DescribeGroupsRequest(groups=(GroupId(group_id),), include_authorized_operations=False),
    )
    (group,) = response.groups
    _check(group.error_code, f"DescribeGroups {group_id}")
    missing = group.group_state == "Dead" and not group.members
    described = GroupDescription(
        group_id, group.group_state, group.protocol_type, group.protocol_data
    )
    owners: dict[tuple[str, int], MemberRow] = {}
    for member in group.members:
        partitions: list[tuple[str, int]] = []
        if group.protocol_type == CONSUMER_PROTOCOL_TYPE:
            partitions = sorted(assigned_partitions(bytes(member.member_assignment)) or [])
        row = MemberRow(
            member.member_id,
            member.group_instance_id,
            member.client_id,
            member.client_host,
            partitions,
        )
        described.members.append(row)
        owners.update(dict.fromkeys(partitions, row))

    fetched = client.call(
        OFFSET_FETCH, 7, OffsetFetchRequest(group_id=GroupId(group_id), topics=None)
    )
    _check(fetched.error_code, f"OffsetFetch {group_id}")
    committed = {
        (str(t.name), int(p.partition_index)): int(p.committed_offset)
        for t in fetched.topics
        for p in t.partitions
        if p.committed_offset >= 0
    }
    if missing and not committed:
        raise GroupToolError(f"consumer group {group_id!r} does not exist")
    keys = sorted(set(committed) | set(owners))
    log_ends = _log_end_offsets(client, keys)
    for key in keys:
        owner = owners.get(key)
        done = committed.get(key)
        end = log_ends.get(key)
        described.partitions.append(
            PartitionRow(
                key[0],
                key[1],
                done,
                end,
                max(end - done, 0) if done is not None and end is not None else None,
                owner.member_id if owner else None,
                owner.host if owner else None,
                owner.client_id if owner else None,
            )
        )
    return described


def _log_end_offsets(
    client: KafkaClient, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    if not keys:
        return {}
    topics: dict[str, list[int]] = {}
    for topic, partition in keys:
        topics.setdefault(topic, []).append(partition)
    request = ListOffsetsRequest(
        replica_id=BrokerId(-1),
        isolation_level=i8(0),
        topics=tuple(
            ListOffsetsTopic(
                name=TopicName(topic),
                partitions=tuple(
                    ListOffsetsPartition(
                        partition_index=i32(p), current_leader_epoch=i32(-1), timestamp=i64(LATEST)
                    )
                    for p in partitions
                ),
            )
            for topic, partitions in topics.items()
        ),
    )
    response = client.call(LIST_OFFSETS, 7, request)
    return {
        (str(t.name), int(p.partition_index)): int(p.offset)
        for t in response.topics
        for p in t.partitions
        if p.error_code == ErrorCode.none and p.offset >= 0
    }


# ---------------------------------------------------------------- rendering


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def _partitions_text(partitions: list[tuple[str, int]]) -> str:
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(partition)
    return " ".join(f"{t}[{','.join(map(str, ps))}]" for t, ps in by_topic.items()) or "-"


def render_list(console: Console, rows: list[dict[str, str]]) -> None:
    if not rows:
        console.print("no consumer groups")
        return
    table = Table("GROUP", "STATE", "PROTOCOL TYPE", box=None, header_style="bold")
    for row in rows:
        table.add_row(row["group"], row["state"], row["protocol_type"] or "-")
    console.print(table)


def render_describe(console: Console, group: GroupDescription) -> None:
    protocol = f"{group.protocol_type}/{group.protocol}" if group.protocol else group.protocol_type
    console.print(
        f"[bold]{group.group_id}[/bold]  state {group.state}  protocol {protocol or '-'}  "
        f"members {len(group.members)}  total lag {sum(r.lag or 0 for r in group.partitions)}"
    )
    members = Table(
        "MEMBER-ID", "INSTANCE-ID", "CLIENT-ID", "HOST", "ASSIGNMENT",
        title="members", box=None, header_style="bold", title_justify="left",
    )  # fmt: skip
    for m in group.members:
        members.add_row(
            m.member_id, _dash(m.group_instance_id), m.client_id, m.host,
            _partitions_text(m.partitions),
        )  # fmt: skip
    if group.members:
        console.print(members)
    offsets = Table(
        "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
        "CLIENT-ID", title="offsets", box=None, header_style="bold", title_justify="left",
    )  # fmt: skip
    for p in group.partitions:
        offsets.add_row(
            p.topic, str(p.partition), _dash(p.committed), _dash(p.log_end), _dash(p.lag),
            _dash(p.member_id), _dash(p.host), _dash(p.client_id),
        )  # fmt: skip
    console.print(offsets if group.partitions else "no committed offsets or assignments")


# ---------------------------------------------------------------- command line


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "groups",
        help="list consumer groups, or show one's members, offsets and lag",
        description="Consumer groups as a broker sees them, asked over the Kafka protocol.",
    )
    parser.add_argument(
        "--bootstrap-server", default=DEFAULT_BOOTSTRAP, help=f"HOST:PORT ({DEFAULT_BOOTSTRAP})"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="every group and its state")
    listing.add_argument(
        "--state", action="append", help="only groups in this state (repeatable), e.g. Stable"
    )
    listing.set_defaults(run=run_list)
    describe = commands.add_parser(
        "describe", help="members, assignments, committed offsets, log end offsets and lag"
    )
    describe.add_argument("group")
    describe.set_defaults(run=run_describe)


def _console() -> Console:
    return Console(soft_wrap=True) if sys.stdout.isatty() else Console(width=250)


def run_list(args: argparse.Namespace) -> int:
    try:
        with KafkaClient(args.bootstrap_server) as client:
            rows = list_groups(client, args.state)
    except (KafkaClientError, GroupToolError) as exc:
        print(f"rafka groups list: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        render_list(_console(), rows)
    return 0


def run_describe(args: argparse.Namespace) -> int:
    try:
        with KafkaClient(args.bootstrap_server) as client:
            group = describe_group(client, args.group)
    except (KafkaClientError, GroupToolError) as exc:
        print(f"rafka groups describe: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(group), indent=2))
    else:
        render_describe(_console(), group)
    return 0
