"""`rafka consume`: read a topic over gRPC, stored messages first, then live ones.

    rafka consume -t greetings --from earliest --max-messages 10
    rafka consume -t orders --consumer-id billing        # resumes where billing stopped

With a consumer id, what was read is committed under it (after each batch), so the next run
with the same id starts right after. `--timeout` stops once no message came for that long.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from rafka.cli.grpc_common import add_brokers_argument, format_message, run
from rafka.client import Consumer
from rafka.client.consumer import Start


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "consume",
        help="read messages over gRPC",
        description="Read a topic over the gRPC API and print its messages, one a line.",
    )
    add_arguments(parser)
    parser.set_defaults(run=lambda args: run("rafka consume", consume(args)))


def add_arguments(parser: argparse.ArgumentParser, default_topic: str | None = None) -> None:
    add_brokers_argument(parser)
    parser.add_argument(
        "-t", "--topic", required=default_topic is None, default=default_topic, help="topic"
    )
    parser.add_argument("-c", "--consumer-id", help="consumer id (offsets are kept under it)")
    parser.add_argument("-g", "--group", default="", help="group whose offsets to use")
    parser.add_argument(
        "--from",
        dest="start",
        default="committed",
        help="committed (default; earliest without a commit), earliest, latest, or an offset",
    )
    parser.add_argument(
        "-p", "--partition", type=int, action="append", default=[], help="only this partition"
    )
    parser.add_argument("-n", "--max-messages", type=int, help="stop after N messages")
    parser.add_argument(
        "--timeout", type=float, help="stop when no message arrived for this many seconds"
    )
    parser.add_argument(
        "--format",
        choices=("text", "verbose", "json", "hex"),
        default="text",
        help="how to print each message (text: the payload)",
    )
    parser.add_argument(
        "--commit",
        choices=("batch", "interval", "manual"),
        default="batch",
        help="when to commit offsets (batch)",
    )


def parse_start(text: str) -> Start:
    if text in ("committed", "earliest", "latest"):
        return text  # type: ignore[return-value]
    try:
        offset = int(text)
    except ValueError:
        raise ValueError(
            f"--from {text!r}: expected committed, earliest, latest or an offset"
        ) from None
    if offset < 0:
        raise ValueError(f"--from {offset}: offsets are >= 0")
    return offset


async def consume(args: argparse.Namespace) -> int:
    start = parse_start(args.start)
    count = 0
    async with Consumer(
        args.brokers,
        args.consumer_id,
        group=args.group,
        start=start,
        commit=args.commit,
    ) as consumer:
        stream = consumer.consume(args.topic, partitions=args.partition)
        try:
            while args.max_messages is None or count < args.max_messages:
                try:
                    message = await asyncio.wait_for(anext(stream), args.timeout)
                except (TimeoutError, StopAsyncIteration):
                    break
                print(format_message(message, args.format), flush=True)
                count += 1
        finally:
            await stream.aclose()
    if args.format != "json":
        print(f"consumed {count} messages", file=sys.stderr)
    return 0
