"""`rafka produce`: publish messages over gRPC, from the command line, a file or a count.

    rafka produce -t greetings -m "Hello, World!" -k key-1
    rafka produce -t logs --file app.log          # one message per line, with a progress bar
    rafka produce -t load --count 100000 --size 100

The client library batches the messages (one PublishBatch per broker per few milliseconds)
and, in multi-broker mode, sends each to the broker owning its partition (murmur2 of the key,
as Kafka's default partitioner). `--direct` skips that routing and sends everything to the
first broker given, which refuses partitions it does not own, naming the owner.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rafka.cli.grpc_common import add_brokers_argument, run
from rafka.client import Delivery, Producer


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "produce",
        help="publish messages over gRPC",
        description="Publish messages to a topic over the gRPC API.",
    )
    add_arguments(parser)
    parser.set_defaults(run=lambda args: run("rafka produce", produce(args)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_brokers_argument(parser)
    parser.add_argument("-t", "--topic", required=True, help="topic to publish to")
    parser.add_argument("-k", "--key", help="message key (routes by murmur2 hash)")
    parser.add_argument("-p", "--partition", type=int, help="explicit partition")
    parser.add_argument(
        "-m", "--message", action="append", default=[], help="a message (repeatable)"
    )
    parser.add_argument("-f", "--file", help="publish each line of FILE ('-': stdin)")
    parser.add_argument("-n", "--count", type=int, help="publish N generated messages")
    parser.add_argument(
        "--size", type=int, default=0, help="with --count: payload size in bytes (random)"
    )
    parser.add_argument(
        "-H", "--header", action="append", default=[], metavar="KEY=VALUE", help="a header"
    )
    parser.add_argument(
        "-K",
        "--key-delimiter",
        help="split each message at the first DELIM into key and payload (as kcat -K)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=1000, help="most messages per PublishBatch (1000)"
    )
    parser.add_argument("--producer-id", default="rafka-cli", help="producer id (rafka-cli)")
    parser.add_argument(
        "--direct", action="store_true", help="send to the first broker, no routing"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")


def _payloads(args: argparse.Namespace) -> tuple[Iterator[bytes], int | None]:
    """The messages to publish and how many there are (None: unknown)."""
    if args.count is not None:
        if args.count < 0:
            raise ValueError(f"--count must be >= 0, got {args.count}")

        def generated() -> Iterator[bytes]:
            for i in range(args.count):
                yield os.urandom(args.size) if args.size else f"message-{i}".encode()

        return generated(), args.count
    if args.file is not None:
        if args.file == "-":
            lines = (line.rstrip(b"\r\n") for line in sys.stdin.buffer)
            return lines, None
        data = Path(args.file).read_bytes().splitlines()
        return iter(data), len(data)
    if args.message:
        return (m.encode() for m in args.message), len(args.message)
    if not sys.stdin.isatty():
        return (line.rstrip(b"\r\n") for line in sys.stdin.buffer), None
    raise ValueError("nothing to publish: give --message, --file or --count")


def _headers(items: list[str]) -> list[tuple[str, bytes | str | None]]:
    headers: list[tuple[str, bytes | str | None]] = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--header {item!r}: expected KEY=VALUE")
        headers.append((name, value))
    return headers


async def produce(args: argparse.Namespace) -> int:
    payloads, total = _payloads(args)
    headers = _headers(args.header)
    show_progress = not args.quiet and (args.file is not None or args.count is not None)
    console = Console(stderr=True)
    futures: list[asyncio.Future[Delivery]] = []
    delimiter = args.key_delimiter.encode() if args.key_delimiter else None
    async with Producer(
        args.brokers,
        producer_id=args.producer_id,
        route=not args.direct,
        batch_size=args.batch_size,
    ) as p:
        progress = Progress(
            TextColumn("publishing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not show_progress,
        )
        with progress:
            task = progress.add_task("publish", total=total)
            for line in payloads:
                key: bytes | str | None = args.key
                payload = line
                if delimiter is not None and delimiter in line:
                    key, payload = line.split(delimiter, 1)
                future = await p.publish(
                    args.topic, payload, key, headers=headers, partition=args.partition
                )
                future.add_done_callback(lambda _: progress.advance(task))
                futures.append(future)
            await p.flush()
        results = await asyncio.gather(*futures, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    delivered = [r for r in results if isinstance(r, Delivery)]
    if not args.quiet:
        if len(delivered) == 1:
            d = delivered[0]
            print(f"published to {d.topic} partition {d.partition} at offset {d.offset} "
                  f"(message id {d.message_id})")
        else:
            print(f"published {len(delivered)} messages to {args.topic}")
    for failure in failures[:5]:
        print(f"rafka produce: {failure}", file=sys.stderr)
    if len(failures) > 5:
        print(f"rafka produce: ... and {len(failures) - 5} more failures", file=sys.stderr)
    return 1 if failures else 0
