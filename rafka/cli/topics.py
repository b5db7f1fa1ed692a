"""`rafka topics create|list|describe|delete`: topic administration over gRPC, as tables.

    rafka topics create orders --partitions 3 --config retention.ms=3600000
    rafka topics list
    rafka topics describe orders
    rafka topics delete orders

`--json` prints the same facts for scripts.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.table import Table

from rafka.cli.grpc_common import add_brokers_argument, run
from rafka.client import Admin


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "topics", help="create, list, describe or delete topics (gRPC)"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    create = commands.add_parser("create", help="create a topic")
    add_brokers_argument(create)
    create.add_argument("name")
    create.add_argument("-p", "--partitions", type=int, default=0, help="(broker default)")
    create.add_argument(
        "--config", action="append", default=[], metavar="KEY=VALUE", help="a topic config"
    )
    create.set_defaults(run=lambda args: run("rafka topics create", _create(args)))

    listing = commands.add_parser("list", help="list topics")
    add_brokers_argument(listing)
    listing.add_argument("--internal", action="store_true", help="include internal topics")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(run=lambda args: run("rafka topics list", _list(args)))

    describe = commands.add_parser("describe", help="partitions, offsets and configs")
    add_brokers_argument(describe)
    describe.add_argument("name")
    describe.add_argument("--json", action="store_true", help="print JSON")
    describe.set_defaults(run=lambda args: run("rafka topics describe", _describe(args)))

    delete = commands.add_parser("delete", help="delete a topic and its data")
    add_brokers_argument(delete)
    delete.add_argument("name")
    delete.set_defaults(run=lambda args: run("rafka topics delete", _delete(args)))


def _configs(items: list[str]) -> dict[str, str]:
    configs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--config {item!r}: expected KEY=VALUE")
        configs[key.strip()] = value.strip()
    return configs


async def _create(args: argparse.Namespace) -> int:
    async with Admin(args.brokers) as admin:
        info = await admin.create_topic(args.name, args.partitions, _configs(args.config))
    print(f"created topic {info.name} with {info.partitions} partitions")
    return 0


async def _delete(args: argparse.Namespace) -> int:
    async with Admin(args.brokers) as admin:
        await admin.delete_topic(args.name)
    print(f"deleted topic {args.name}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with Admin(args.brokers) as admin:
        topics = await admin.list_topics(args.internal)
    if args.json:
        print(json.dumps([MessageToDict(t, preserving_proto_field_name=True) for t in topics]))
        return 0
    table = Table(title="topics")
    for column in ("topic", "partitions", "internal", "topic id"):
        table.add_column(column)
    for topic in topics:
        table.add_row(
            topic.name, str(topic.partitions), "yes" if topic.internal else "", topic.topic_id
        )
    Console().print(table)
    return 0


async def _describe(args: argparse.Namespace) -> int:
    async with Admin(args.brokers) as admin:
        described = await admin.describe_topic(args.name)
    if args.json:
        print(
            json.dumps(
                MessageToDict(
                    described,
                    preserving_proto_field_name=True,
                    always_print_fields_with_no_presence=True,
                )
            )
        )
        return 0
    console = Console()
    table = Table(title=f"topic {described.topic.name} ({described.topic.topic_id})")
    for column in ("partition", "owner", "log start", "log end", "messages", "bytes", "segments"):
        table.add_column(column, justify="right")
    for p in described.partitions:
        table.add_row(
            str(p.partition),
            f"{p.owner_broker_id} {p.owner}".strip(),
            str(p.log_start_offset),
            str(p.log_end_offset),
            str(p.log_end_offset - p.log_start_offset),
            str(p.size_bytes),
            str(p.segments),
        )
    console.print(table)
    if described.configs:
        configs = Table(title="configs set on the topic")
        configs.add_column("config")
        configs.add_column("value")
        for key, value in sorted(described.configs.items()):
            configs.add_row(key, value)
        console.print(configs)
    return 0
