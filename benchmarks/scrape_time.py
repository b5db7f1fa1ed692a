"""How long `GET /metrics` takes with many partitions: fresh, and right after a restart.

    .venv/bin/python benchmarks/scrape_time.py [--partitions 1000] [--restarts 3]

Starts a real broker process (loopback, temporary data dir), creates one topic with
`--partitions` partitions, produces one message to each, then times scrapes:

- "fresh": the broker that took the messages, after its periodic flush has passed;
- "restart": after each clean restart, the first scrape the moment `/readyz` says ready (the
  worst case: it may meet whatever the broker does right after start-up), then a few more.

For each scrape it prints the time and how many partitions carried an oldest-message
timestamp. A measurement script, not a test: the figures go to docs/observability.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

TOPIC = "wide"
OLDEST = "rafka_partition_oldest_message_timestamp_seconds"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Broker:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait for /readyz; returns seconds from spawn to ready."""
        # New ports each start: on a shared machine the old ones may be taken meanwhile.
        self.kafka_port, self.grpc_port, self.http_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        cmd = [
            sys.executable, "-m", "rafka", "broker", "--data-dir", str(self.data_dir),
            "--host", "127.0.0.1", "--kafka-port", str(self.kafka_port),
            "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port),
        ]
        log = open(self.data_dir.parent / "broker.log", "ab")  # noqa: SIM115
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log_text = (self.data_dir.parent / "broker.log").read_text(errors="replace")
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{log_text}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=5) as reply:
                    if reply.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.005)
        raise TimeoutError("broker not ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)


def scrape(url: str) -> tuple[float, int]:
    """(seconds for the GET, partitions of TOPIC with an oldest-message timestamp)."""
    started = time.perf_counter()
    with urllib.request.urlopen(url + "/metrics", timeout=30) as reply:
        body = reply.read()
    elapsed = time.perf_counter() - started
    stamped = 0
    for family in text_string_to_metric_families(body.decode()):
        if family.name == OLDEST:
            stamped = sum(1 for s in family.samples if s.labels.get("topic") == TOPIC)
    return elapsed, stamped


def series(label: str, url: str, count: int) -> list[float]:
    times = []
    for i in range(count):
        elapsed, stamped = scrape(url)
        times.append(elapsed)
        print(f"  {label} scrape {i + 1}: {elapsed * 1000:6.1f} ms, {stamped} timestamps")
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partitions", type=int, default=1000)
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--scrapes", type=int, default=6)
    args = ap.parse_args()
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    with tempfile.TemporaryDirectory(prefix="rafka-scrape-") as tmp:
        broker = Broker(Path(tmp) / "data")
        broker.start()
        try:
            bootstrap = f"127.0.0.1:{broker.kafka_port}"
            admin = AdminClient({"bootstrap.servers": bootstrap})
            topic = NewTopic(TOPIC, num_partitions=args.partitions, replication_factor=1)
            admin.create_topics([topic])[TOPIC].result(timeout=60)
            producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
            for p in range(args.partitions):
                producer.produce(TOPIC, value=b"v", partition=p)
            assert producer.flush(60) == 0
            # Drop the clients now, or they keep reconnecting through every restart.
            del producer, admin
            time.sleep(2)  # the periodic flush (flush.ms) of the fresh partitions
            print(f"{args.partitions} partitions, fresh broker:")
            fresh = series("fresh", broker.url, args.scrapes)
            firsts: list[float] = []
            later: list[float] = []
            for run in range(args.restarts):
                broker.stop()
                ready = broker.start()
                print(f"restart {run + 1} (ready after {ready:.2f} s):")
                times = series("restart", broker.url, args.scrapes)
                firsts.append(times[0])
                later.extend(times[1:])
        finally:
            broker.stop()
    ms = [round(t * 1000, 1) for t in firsts]
    print(
        f"\nfresh: first {fresh[0] * 1000:.1f} ms, then median "
        f"{statistics.median(fresh[1:]) * 1000:.1f} ms\n"
        f"after restart: first scrapes {ms} ms, later median "
        f"{statistics.median(later) * 1000:.1f} ms, max {max(later) * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
