"""What the gRPC-speaking commands share: the broker address flag, running a coroutine with
errors printed as one line, and payload formatting."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from collections.abc import Coroutine
from typing import Any

from rafka.client import ClientClosedError, Message, RafkaError

DEFAULT_BROKERS = "127.0.0.1:50051"


def add_brokers_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-b",
        "--brokers",
        default=DEFAULT_BROKERS,
        help=f"gRPC address(es), comma-separated ({DEFAULT_BROKERS})",
    )


def run(program: str, coroutine: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; a broker refusal or a bad value is one line and exit 1."""
    try:
        return asyncio.run(coroutine)
    except RafkaError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError, ClientClosedError) as exc:
        print(f"{program}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")


def message_json(message: Message) -> str:
    """One JSON line: text fields decoded as UTF-8, plus the exact bytes in base64."""
    return json.dumps(
        {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "message_id": message.message_id,
            "timestamp_ms": message.timestamp_ms,
            "key": text(message.key),
            "payload": text(message.payload),
            "key_b64": None if message.key is None else base64.b64encode(message.key).decode(),
            "payload_b64": (
                None if message.payload is None else base64.b64encode(message.payload).decode()
            ),
            "headers": {k: text(v) for k, v in message.headers},
        }
    )


def format_message(message: Message, style: str) -> str:
    if style == "json":
        return message_json(message)
    if style == "hex":
        return (message.payload or b"").hex()
    if style == "verbose":
        key = text(message.key)
        return (
            f"[{message.message_id}] key={key if key is not None else '-'} "
            f"{text(message.payload) or ''}"
        )
    return text(message.payload) or ""
