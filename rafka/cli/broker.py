"""`rafka broker`: run a single-node broker until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from rafka.config import ConfigError, load_config

# Flag -> configuration key. Flags are the most specific source and win over file and env.
FLAG_KEYS = {
    "host": "server.host",
    "data_dir": "broker.data_dir",
    "kafka_port": "listeners.kafka.port",
    "grpc_port": "listeners.grpc.port",
    "http_port": "listeners.http.port",
    "advertised_host": "listeners.kafka.advertised_host",
    "advertised_port": "listeners.kafka.advertised_port",
    "storage": "storage.type",
    "log_level": "log.level",
    "broker_id": "broker.id",
    "default_partitions": "broker.default_partitions",
    "partition": "cluster.partition",
    "total_partitions": "cluster.total_partitions",
    "peers": "cluster.peers",
    "kafka_peers": "cluster.kafka_peers",
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "broker",
        help="run a broker (single node, data in a local folder)",
        description="Run a Rafka broker until Ctrl-C or SIGTERM. Settings come from the config "
        "file, then RAFKA_* environment variables, then these flags.",
    )
    parser.add_argument(
        "--config", type=Path, help="YAML config file (default: none, or $RAFKA_CONFIG)"
    )
    parser.add_argument("--data-dir", help="where topics and partitions are stored (./data)")
    parser.add_argument("--host", help="address to bind every listener (127.0.0.1)")
    parser.add_argument("--kafka-port", help="Kafka protocol port (9092; 0 picks a free one)")
    parser.add_argument("--grpc-port", help="gRPC port (50051)")
    parser.add_argument("--http-port", help="HTTP port for metrics, health, console (8080)")
    parser.add_argument("--advertised-host", help="host name Kafka clients are told to use")
    parser.add_argument("--advertised-port", help="port Kafka clients are told to use")
    parser.add_argument("--storage", help="disk or in_memory (disk)")
    parser.add_argument("--retention-seconds", type=int, help="delete data older than this")
    parser.add_argument("--log-level", help="debug, info, warning, error (info)")
    parser.add_argument("--broker-id", help="this broker's id (0)")
    parser.add_argument("--default-partitions", help="partitions of auto-created topics (1)")
    parser.add_argument(
        "--partition", help="multi-broker mode: the partition of every topic this broker owns"
    )
    parser.add_argument(
        "--total-partitions", help="multi-broker mode: partitions per topic, one per broker"
    )
    parser.add_argument(
        "--peers", help="multi-broker mode: every broker's gRPC host:port, in partition order"
    )
    parser.add_argument(
        "--kafka-peers",
        help="multi-broker mode: the same brokers' Kafka host:port (advertised), same order",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any configuration key, e.g. --set storage.flush_messages=1",
    )
    parser.add_argument(
        "--event-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="asyncio event loop implementation (uvloop when installed)",
    )
    parser.set_defaults(run=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        overrides[key.strip()] = value
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
    if args.retention_seconds is not None:
        if args.retention_seconds < -1:
            raise ConfigError("--retention-seconds: must be >= 0 or -1 (keep forever)")
        overrides["storage.retention_ms"] = (
            -1 if args.retention_seconds == -1 else args.retention_seconds * 1000
        )
    return overrides


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config, overrides=_overrides(args))
    except ConfigError as exc:
        print(f"rafka broker: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config["log.level"].upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from rafka.server.app import run_server
    from rafka.server.malloc_tuning import keep_freed_memory

    keep_freed_memory()
    if args.event_loop == "uvloop":
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            logging.getLogger("rafka").info("uvloop not installed; using the asyncio event loop")
    try:
        asyncio.run(run_server(config))
    except ConfigError as exc:
        print(f"rafka broker: configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        logging.getLogger("rafka").error("cannot start: %s", exc)
        return 1
    return 0
