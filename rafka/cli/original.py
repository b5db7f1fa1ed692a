"""The original Rafka's tools, with its flags: `start_broker`, `start_producer`,
`start_consumer` and `check_metrics` (console scripts; see pyproject.toml).

    start_broker --port 50051 --partition 0 --total-partitions 3 --peers h:50051,h:50052,h:50053
    start_producer --brokers 127.0.0.1:50051 --topic greetings --message "Hello" --key key-1
    start_consumer --port 50051 --topic greetings --consumer-id c1
    check_metrics --port 50051

`--port` is the gRPC port, as it was there. Unknown flags are refused with the usage text
(the original silently ignored them). `start_broker` runs `rafka broker` with matching
settings; with several brokers on one machine it gives each its own data dir
(`./data/partition-P`), Kafka port (9092 + P) and HTTP port (8080 + P) unless told otherwise.
Following that same rule, peer P's Kafka address is its host with port 9092 + P, which
`start_broker` passes on as `--kafka-peers` unless given `--kafka-peers` or `--kafka-port`.
"""

from __future__ import annotations

import argparse
import sys

from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.table import Table

from rafka.cli import consume as consume_command
from rafka.cli import produce as produce_command
from rafka.cli.grpc_common import DEFAULT_BROKERS, run
from rafka.client import Admin
from rafka.server.grpc.gen import rafka_pb2 as pb


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=prog, description=description, allow_abbrev=False)


# ---------------------------------------------------------------- start_broker


def broker_argv(args: argparse.Namespace) -> list[str]:
    """The `rafka broker` arguments the original's flags stand for."""
    multi = args.total_partitions > 1
    part = args.partition if multi else 0
    data_dir = args.data_dir or ("./data" if not multi else f"./data/partition-{part}")
    argv = [
        "broker",
        "--grpc-port", str(args.port),
        "--data-dir", data_dir,
        "--kafka-port", str(args.kafka_port if args.kafka_port is not None else 9092 + part),
        "--http-port", str(args.http_port if args.http_port is not None else 8080 + part),
        "--broker-id", str(part),
    ]  # fmt: skip
    if multi:
        argv += ["--partition", str(args.partition)]
        argv += ["--total-partitions", str(args.total_partitions)]
    if args.peers:
        argv += ["--peers", args.peers]
        kafka_peers = getattr(args, "kafka_peers", None)
        if kafka_peers is None and args.kafka_port is None:
            kafka_peers = _default_kafka_peers(args.peers)
        if kafka_peers:
            argv += ["--kafka-peers", kafka_peers]
    if args.retention_seconds is not None:
        argv += ["--retention-seconds", str(args.retention_seconds)]
    for flag in ("host", "storage", "log_level"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag.replace('_', '-')}", value]
    for item in args.set:
        argv += ["--set", item]
    return argv


def _default_kafka_peers(peers: str) -> str:
    """Peer P's Kafka address under start_broker's own rule (Kafka port 9092 + P); a peer
    that is not host:port is left for `rafka broker` to report."""
    hosts = [item.strip().rpartition(":")[0] for item in peers.split(",") if item.strip()]
    if not all(hosts):
        return ""
    return ",".join(f"{host}:{9092 + i}" for i, host in enumerate(hosts))


def start_broker(argv: list[str] | None = None) -> int:
    parser = _parser("start_broker", "Start a Rafka broker (the original's flags).")
    parser.add_argument("--port", type=int, default=50051, help="gRPC port (50051)")
    parser.add_argument("--partition", type=int, default=0, help="partition this broker owns")
    parser.add_argument(
        "--total-partitions", type=int, default=1, help="partitions per topic = brokers (1)"
    )
    parser.add_argument("--peers", help="every broker's gRPC host:port, in partition order")
    parser.add_argument("--retention-seconds", type=int, help="delete messages older than this")
    parser.add_argument("--data-dir", help="(./data, or ./data/partition-P with several)")
    parser.add_argument("--kafka-port", type=int, help="Kafka protocol port (9092 + P)")
    parser.add_argument(
        "--kafka-peers", help="every broker's Kafka host:port, in partition order (9092 + P)"
    )
    parser.add_argument("--http-port", type=int, help="HTTP port (8080 + P)")
    parser.add_argument("--host", help="bind address (127.0.0.1)")
    parser.add_argument("--storage", help="disk or in_memory (disk)")
    parser.add_argument("--log-level", help="debug, info, warning, error (info)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="any config key"
    )
    args = parser.parse_args(argv)
    if args.total_partitions < 1:
        parser.error(f"--total-partitions must be >= 1, got {args.total_partitions}")
    if not 0 <= args.partition < args.total_partitions:
        parser.error(
            f"--partition {args.partition} is not one of 0..{args.total_partitions - 1}"
        )
    from rafka.cli.main import main

    return main(broker_argv(args))


# ---------------------------------------------------------------- start_producer


def start_producer(argv: list[str] | None = None) -> int:
    parser = _parser("start_producer", "Publish messages to Rafka (the original's flags).")
    produce_command.add_arguments(parser)
    parser.set_defaults(topic="greetings")
    for action in parser._actions:
        if action.dest == "topic":
            action.required = False
            action.help = "topic (greetings)"
    args = parser.parse_args(argv)
    if not (args.message or args.file or args.count is not None):
        args.message = ["Hello, World!"]
    return run("start_producer", produce_command.produce(args))


# ---------------------------------------------------------------- start_consumer


def start_consumer(argv: list[str] | None = None) -> int:
    parser = _parser("start_consumer", "Consume messages from Rafka (the original's flags).")
    consume_command.add_arguments(parser, default_topic="greetings")
    parser.add_argument("--port", type=int, help="gRPC port of a local broker (50051)")
    parser.set_defaults(format="verbose")
    args = parser.parse_args(argv)
    if args.port is not None:
        if args.brokers != DEFAULT_BROKERS:
            parser.error("give --port or --brokers, not both")
        args.brokers = f"127.0.0.1:{args.port}"
    if args.consumer_id is None:
        # A stable default id, so a restarted consumer resumes (the original's did not).
        args.consumer_id = f"start_consumer-{args.topic}"
    return run("start_consumer", consume_command.consume(args))


# ---------------------------------------------------------------- check_metrics


def check_metrics(argv: list[str] | None = None) -> int:
    parser = _parser("check_metrics", "Show a broker's metrics (GetMetrics over gRPC).")
    parser.add_argument("--port", type=int, help="gRPC port of a local broker (50051)")
    parser.add_argument(
        "-b", "--brokers", help=f"gRPC address(es), comma-separated ({DEFAULT_BROKERS})"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.port is not None and args.brokers:
        parser.error("give --port or --brokers, not both")
    brokers = args.brokers or (f"127.0.0.1:{args.port}" if args.port else DEFAULT_BROKERS)
    return run("check_metrics", _check_metrics(brokers, args.json))


async def _check_metrics(brokers: str, as_json: bool) -> int:
    async with Admin(brokers) as admin:
        answers = [(a, await admin.metrics(a)) for a in admin.cluster.bootstrap]
    if as_json:
        import json

        print(
            json.dumps(
                {
                    address: MessageToDict(
                        m,
                        preserving_proto_field_name=True,
                        always_print_fields_with_no_presence=True,
                    )
                    for address, m in answers
                }
            )
        )
        return 0
    console = Console()
    for address, metrics in answers:
        print_metrics(console, address, metrics)
    return 0


def print_metrics(console: Console, address: str, m: pb.GetMetricsResponse) -> None:
    summary = Table(title=f"broker {m.broker_id} at {address}")
    for column in ("messages stored", "bytes stored", "bytes in", "bytes out", "oldest (s)"):
        summary.add_column(column, justify="right")
    summary.add_row(
        str(m.total_messages),
        str(m.total_bytes),
        str(m.total_bytes_in),
        str(m.total_bytes_out),
        str(m.oldest_message_age_secs),
    )
    console.print(summary)
    if m.partitions:
        table = Table(title="partitions")
        for column in ("topic", "partition", "messages", "bytes", "start", "end", "in", "out"):
            table.add_column(column, justify="right")
        for p in m.partitions:
            table.add_row(
                p.topic,
                str(p.partition),
                str(p.messages),
                str(p.bytes),
                str(p.log_start_offset),
                str(p.log_end_offset),
                str(p.bytes_in),
                str(p.bytes_out),
            )
        console.print(table)
    if m.consumer_offsets:
        table = Table(title="consumer offsets")
        for column in ("group", "topic", "partition", "committed", "end", "lag"):
            table.add_column(column, justify="right")
        for c in m.consumer_offsets:
            table.add_row(
                c.group,
                c.topic,
                str(c.partition),
                str(c.committed_offset),
                str(c.log_end_offset),
                str(c.lag),
            )
        console.print(table)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(start_broker())
