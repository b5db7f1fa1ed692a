"""A consumer that stops reading its stream must not make the broker buffer the backlog:
Consume reads the log only as fast as gRPC's flow control lets the stream send."""

from __future__ import annotations

from pathlib import Path

import pytest

from rafka.server.grpc.gen import rafka_pb2 as pb
from tests.grpc.helpers import new_topic, start_broker, stub

MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_slow_consumer_keeps_broker_memory_bounded(tmp_path: Path) -> None:
    process = start_broker(tmp_path / "data")
    try:
        assert process.proc is not None
        api = stub(process.grpc_target)
        topic = new_topic()
        payload = b"z" * 1000
        batch = pb.PublishBatchRequest(
            messages=[pb.PublishRequest(topic=topic, payload=payload)] * 1000
        )
        api.PublishBatch(batch, timeout=30)  # warm up: the topic exists, code paths are hot
        stalled = api.Consume(pb.ConsumeRequest(topic=topic, start=pb.START_POSITION_EARLIEST))
        first = next(iter(stalled))  # the stream is open; from now on nobody reads it
        assert first.messages
        before = rss_bytes(process.proc.pid)
        published = 0
        peak = before
        while published < 100 * MB:
            api.PublishBatch(batch, timeout=30)
            published += len(payload) * 1000
            peak = max(peak, rss_bytes(process.proc.pid))
        growth = peak - before
        print(f"broker RSS {before / MB:.0f} MB -> peak {peak / MB:.0f} MB "
              f"(+{growth / MB:.1f} MB) while {published / MB:.0f} MB was published")
        # Buffering the backlog would cost well over 100 MB; the stream holds one read.
        assert growth < 40 * MB
        stalled.cancel()
    finally:
        process.stop()
