"""Debian's kcat 1.7.1 (librdkafka 2.0.2): metadata, produce from a file, consume to the end."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.broker_process import BrokerProcess

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")


def kcat(broker: BrokerProcess, *args: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["kcat", "-b", broker.bootstrap, *args], input=stdin, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def test_metadata_lists_broker_and_topics(shared_broker: BrokerProcess) -> None:
    topic = f"kcat-meta-{uuid.uuid4().hex[:8]}"
    kcat(shared_broker, "-t", topic, "-P", stdin=b"x\n")
    listing = json.loads(kcat(shared_broker, "-L", "-J"))
    assert [b["id"] for b in listing["brokers"]] == [0]
    assert listing["brokers"][0]["name"] == shared_broker.bootstrap
    topics = {t["topic"]: t for t in listing["topics"]}
    assert len(topics[topic]["partitions"]) == 1


def test_produce_file_and_consume_byte_for_byte(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    topic = f"kcat-bytes-{uuid.uuid4().hex[:8]}"
    # Every byte value except the delimiter, in lines of varying length.
    lines = [
        bytes((i + j) % 256 for j in range(i % 300 + 1)).replace(b"\n", b"\x00")
        for i in range(1000)
    ]
    source = tmp_path / "in.bin"
    source.write_bytes(b"\n".join(lines) + b"\n")
    kcat(shared_broker, "-t", topic, "-P", "-l", str(source))
    out = kcat(shared_broker, "-t", topic, "-C", "-o", "beginning", "-e", "-q", "-D", "\n")
    assert out == source.read_bytes()


def test_keys_and_offsets_survive(shared_broker: BrokerProcess) -> None:
    topic = f"kcat-keys-{uuid.uuid4().hex[:8]}"
    kcat(shared_broker, "-t", topic, "-P", "-K", ":", stdin=b"a:1\nb:2\nc:3\n")
    out = kcat(shared_broker, "-t", topic, "-C", "-o", "beginning", "-e", "-q", "-f", "%k=%s@%o\n")
    assert out == b"a=1@0\nb=2@1\nc=3@2\n"
