"""`rafka bench`: produce, consume and end-to-end latency against a running broker."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rafka.bench import (
    ACKS,
    COMPRESSIONS,
    CONSUMERS,
    DEFAULT_ADDRESS,
    PAYLOADS,
    VIAS,
    WORKLOADS,
    DriverUnavailable,
    ProgressFactory,
    Workload,
    open_driver,
    run_bench,
)
from rafka.bench import Progress as ProgressFn

if TYPE_CHECKING:
    from rich.console import Console

_UNITS = {"": 1, "k": 1024, "kib": 1024, "m": 1 << 20, "mib": 1 << 20}


def _bytes(text: str) -> int:
    """1000, 1k, 1KiB, 1M, 1MiB (binary units)."""
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 100, 1KiB, 1MiB)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def add_parser(subparsers: Any) -> None:
    d = Workload()
    parser = subparsers.add_parser(
        "bench",
        help="benchmark a running broker: produce, consume, end-to-end latency",
        description="Run produce, consume and end-to-end latency workloads against a running "
        "broker (any Kafka-compatible broker with --via kafka). Produce is timed from the first "
        "send to the last acknowledgement, consume from the first fetch to the last message "
        "received, latency per message from its scheduled send time. See docs/benchmarks.md.",
    )
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                        help=f"any of {', '.join(WORKLOADS)}, or all (default: all)")
    parser.add_argument("-b", "--bootstrap", "--address", dest="address", metavar="HOST:PORT",
                        help="broker address (Kafka: 127.0.0.1:9092; gRPC: 127.0.0.1:50051)")
    parser.add_argument("--via", choices=VIAS, default="kafka",
                        help="transport: kafka (librdkafka) or grpc (needs rafka.client)")
    parser.add_argument("-s", "--size", type=_bytes, default=d.size,
                        help=f"message value size, e.g. 100, 1KiB ({d.size})")
    parser.add_argument("-n", "--count", type=int, default=d.count,
                        help=f"messages to produce and consume ({d.count:,})")
    parser.add_argument("-p", "--partitions", type=int, default=d.partitions,
                        help=f"partitions of the benchmark topic ({d.partitions})")
    parser.add_argument("--acks", choices=ACKS, default=d.acks, help=f"producer acks ({d.acks})")
    parser.add_argument("--linger-ms", type=int, default=d.linger_ms,
                        help=f"producer linger.ms for produce ({d.linger_ms})")
    parser.add_argument("--compression", choices=COMPRESSIONS, default=d.compression,
                        help=f"producer compression ({d.compression})")
    parser.add_argument("--batch-bytes", type=_bytes,
                        help="largest producer batch per partition (librdkafka batch.size), "
                        "e.g. 1MiB for 1 MiB produce requests (client default)")
    parser.add_argument("--payload", choices=PAYLOADS, default=d.payload,
                        help=f"message contents; random for compression tests ({d.payload})")
    parser.add_argument("--consumer", choices=CONSUMERS, default=d.consumer,
                        help="who reads in the consume workload (--via kafka): librdkafka "
                        "(confluent-kafka, decodes every message: what an application sees) or "
                        "fetch (a raw Fetch client that counts records from batch headers: how "
                        f"fast the broker serves) ({d.consumer})")
    parser.add_argument("--max-seconds", type=float, default=d.max_seconds,
                        help=f"cap on each produce/consume phase ({d.max_seconds:g} s)")
    parser.add_argument("--rate", type=int, default=d.rate,
                        help=f"latency: messages per second ({d.rate:,})")
    parser.add_argument("--latency-seconds", type=float, default=d.latency_seconds,
                        help=f"latency: how long to send ({d.latency_seconds:g} s)")
    parser.add_argument("--latency-linger-ms", type=int, default=d.latency_linger_ms,
                        help=f"latency: producer linger.ms ({d.latency_linger_ms})")
    parser.add_argument("--topic", help="topic name (default: a new rafka-bench-* topic)")
    parser.add_argument("--keep-topics", action="store_true",
                        help="do not delete the benchmark topics afterwards")
    parser.add_argument("--broker-pid", type=int,
                        help="pid of a local broker: adds its CPU s/GB and peak RSS (from /proc)")
    parser.add_argument("--json", action="store_true",
                        help="print the results as JSON on stdout instead of tables")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def _workloads(names: list[str]) -> tuple[str, ...]:
    if not names or "all" in names:
        return WORKLOADS
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise ValueError(f"unknown workload {unknown[0]!r}; choose from "
                         f"{', '.join(WORKLOADS)} or all")
    return tuple(n for n in WORKLOADS if n in names)  # always in the order produce, consume, ...


@contextlib.contextmanager
def _progress_bars(enabled: bool, console: Console) -> Iterator[ProgressFactory | None]:
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bars:

        def factory(label: str, total: int) -> ProgressFn:
            task = bars.add_task(label, total=total)

            def update(done: int, total: int) -> None:
                bars.update(task, completed=done, total=total)

            return update

        yield factory


def run(args: argparse.Namespace) -> int:
    from rich.console import Console  # here, so `rafka broker` does not load rich

    err = Console(stderr=True)
    try:
        workloads = _workloads(args.workloads)
        workload = Workload(
            size=args.size, count=args.count, partitions=args.partitions, acks=args.acks,
            linger_ms=args.linger_ms, compression=args.compression, batch_bytes=args.batch_bytes,
            payload=args.payload, consumer=args.consumer, max_seconds=args.max_seconds,
            rate=args.rate, latency_seconds=args.latency_seconds,
            latency_linger_ms=args.latency_linger_ms,
        )
        if args.consumer != Workload().consumer and args.via != "kafka":
            raise ValueError(f"--consumer {args.consumer} needs --via kafka")
    except ValueError as exc:
        print(f"rafka bench: {exc}", file=sys.stderr)
        return 2
    address = args.address or DEFAULT_ADDRESS[args.via]
    try:
        driver = open_driver(args.via, address)
    except DriverUnavailable as exc:
        print(f"rafka bench: {exc}", file=sys.stderr)
        return 2
    show_progress = not args.no_progress and err.is_terminal
    from rafka.bench._report import render, to_json

    try:
        with _progress_bars(show_progress, err) as factory:
            kwargs: dict[str, Any] = {"progress_for": factory} if factory else {}
            report = run_bench(driver, address, workload, workloads, topic=args.topic,
                               broker_pid=args.broker_pid, keep_topics=args.keep_topics,
                               **kwargs)
    except KeyboardInterrupt:
        print("rafka bench: interrupted", file=sys.stderr)
        return 130
    except TimeoutError:
        print(f"rafka bench: no answer from {address} in time (is a broker listening there?)",
              file=sys.stderr)
        return 1
    except Exception as exc:  # a broker that is down or misbehaves: one line, no traceback
        print(f"rafka bench: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(to_json(report))
    else:
        out = Console()
        if not out.is_terminal:  # a pipe or a file: do not squeeze the tables to 80 columns
            out = Console(width=max(out.width, 132))
        render(report, out)
    return 1 if report.errors else 0
