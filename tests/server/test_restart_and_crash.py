"""Broker process lifecycle: clean restarts and kill -9 keep every acknowledged message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer

from tests.clients.test_confluent_kafka import consume_all, create_topic, produce
from tests.support.broker_process import BrokerProcess, free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]


def test_clean_restart_keeps_everything(tmp_path: Path) -> None:
    with BrokerProcess(tmp_path / "data") as broker:
        topic = f"restart-{uuid.uuid4().hex[:6]}"
        create_topic(broker, topic, partitions=3, **{"retention.ms": "86400000"})
        values = [b"before restart %d" % i for i in range(3000)]
        produce(broker, topic, [(b"%d" % i, v) for i, v in enumerate(values)])
        assert broker.stop() == 0
        assert "shutdown complete" in broker.log()
        broker.start()
        received = consume_all(broker, topic, len(values), partitions=3)
        assert sorted(m.value() for m in received) == sorted(values)  # type: ignore[attr-defined]
        produce(broker, topic, [(None, b"after restart")])


def test_kill_9_while_producing_loses_no_acknowledged_message(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "data", "--set", "storage.segment_bytes=65536")
    broker.start()
    topic = f"crash-{uuid.uuid4().hex[:6]}"
    create_topic(broker, topic)
    acked: list[bytes] = []
    stop = threading.Event()

    def keep_producing() -> None:
        producer = Producer(
            {
                "bootstrap.servers": broker.bootstrap,
                "acks": "all",
                "linger.ms": 1,
                "message.timeout.ms": 3000,
            }
        )

        def on_delivery(err: object, msg: object) -> None:
            if err is None:
                acked.append(msg.value())  # type: ignore[attr-defined]

        i = 0
        while not stop.is_set():
            try:
                producer.produce(topic, b"crash test message %08d" % i, on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            producer.poll(0.001 if i % 100 == 0 else 0)
        producer.flush(5)

    thread = threading.Thread(target=keep_producing)
    thread.start()
    deadline = time.monotonic() + 30
    while len(acked) < 20_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    broker.kill()
    stop.set()
    thread.join()
    assert len(acked) >= 1000, "the producer never got going"

    broker.log_path.rename(broker.log_path.with_suffix(".crashed.log"))
    broker.start()
    try:
        received = consume_all(broker, topic, len(acked), timeout=60)
        stored = [m.value() for m in received]  # type: ignore[attr-defined]
        missing = set(acked) - set(stored)
        assert not missing, f"{len(missing)} acknowledged messages lost"
        # Offsets stay dense and ordered; the log takes new appends after recovery.
        assert [m.offset() for m in received] == list(range(len(received)))  # type: ignore[attr-defined]
        produce(broker, topic, [(None, b"after crash")])
    finally:
        broker.stop()


def test_readme_run_command_starts_and_stops_cleanly(tmp_path: Path) -> None:
    """`make run` from the README, on a copy-free checkout: waits for the port, then SIGTERM."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "make",
            "-s",
            "run",
            f"ARGS=--kafka-port {port} --data-dir {tmp_path / 'data'} --log-level info",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=120)
    except TimeoutError:
        proc.kill()
        raise
    # SIGTERM the broker itself (make's child), as a service manager would; make then exits
    # with the broker's status.
    broker_pid = _descendant_running(proc.pid, "rafka")
    os.kill(broker_pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "shutdown complete" in text
    assert (tmp_path / "data" / "meta.properties").exists()


def _descendant_running(root: int, needle: str) -> int:
    """The PID of a process below `root` whose command line contains `needle`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    queue = [root]
    while queue:
        pid = queue.pop()
        for child in children.get(pid, []):
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if needle.encode() in cmdline and b"make" not in cmdline.split(b" ")[0]:
                return child
            queue.append(child)
    raise AssertionError(f"no process running {needle!r} below {root}")


def test_second_broker_on_same_port_fails_with_a_clear_message(tmp_path: Path) -> None:
    with BrokerProcess(tmp_path / "a") as first:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "rafka",
                "broker",
                "--data-dir",
                str(tmp_path / "b"),
                "--kafka-port",
                str(first.kafka_port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "address already in use" in result.stderr.lower()
