"""Entry point of the `rafka` command: one sub-command per tool."""

from __future__ import annotations

import argparse
import sys

from rafka import __version__
from rafka.cli import bench, broker, consume, groups, metrics, produce, topics


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rafka", description="Rafka message broker")
    parser.add_argument("--version", action="version", version=f"rafka {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    broker.add_parser(subparsers)
    bench.add_parser(subparsers)
    groups.add_parser(subparsers)
    metrics.add_parser(subparsers)
    produce.add_parser(subparsers)
    consume.add_parser(subparsers)
    topics.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    result: int = args.run(args)
    return result
