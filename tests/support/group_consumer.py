"""confluent-kafka group consumers in their own processes, so a test can close them, start
new ones, or kill -9 them, and watch what each one owns and reads.

Run as a script, this module is the consumer: it subscribes with the JSON config it is given
and prints one JSON line per event (assigned, revoked, lost, each message, closed); "close" on
its stdin makes it close cleanly (committing, and leaving the group unless it is static).
Imported, `GroupConsumer` starts one and collects its events.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

Partition = tuple[str, int]


def _worker(config: dict[str, Any], topics: list[str]) -> None:
    from confluent_kafka import Consumer, KafkaError

    def emit(**event: Any) -> None:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    def names(partitions: list[Any]) -> list[list[Any]]:
        return [[p.topic, p.partition] for p in partitions]

    consumer = Consumer(config)

    # The client (un)assigns by itself after each callback: eagerly, or incrementally for
    # cooperative-sticky, where the partitions given are only those that change hands.
    def on_assign(c: Any, partitions: list[Any]) -> None:
        emit(event="assigned", partitions=names(partitions))

    def on_revoke(c: Any, partitions: list[Any]) -> None:
        emit(event="revoked", partitions=names(partitions))

    def on_lost(c: Any, partitions: list[Any]) -> None:
        emit(event="lost", partitions=names(partitions))

    consumer.subscribe(topics, on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    commands: list[str] = []
    threading.Thread(
        target=lambda: commands.extend(line.strip() for line in sys.stdin), daemon=True
    ).start()
    emit(event="started", pid=os.getpid())
    while "close" not in commands:
        for msg in consumer.consume(500, timeout=0.1):
            error = msg.error()
            if error is None:
                emit(
                    event="message",
                    topic=msg.topic(),
                    partition=msg.partition(),
                    offset=msg.offset(),
                    value=msg.value().decode(),
                )
            elif error.code() != KafkaError._PARTITION_EOF:
                emit(event="error", error=str(error))
    consumer.close()
    emit(event="closed")


class GroupConsumer:
    """One consumer process and what it reported."""

    def __init__(self, bootstrap: str, group: str, topic: str, **config: Any) -> None:
        settings = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "auto.commit.interval.ms": 500,
            **config,
        }
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.group_consumer", json.dumps(settings), topic],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.events.append(json.loads(line))
                self._changed.notify_all()

    def wait_for(self, check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not check():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{what or 'condition'} not met; events: {self.events[-20:]}"
                    )
                self._changed.wait(min(remaining, 0.2))

    # ------------------------------------------------------------ what it saw

    @property
    def owned(self) -> set[Partition]:
        """The partitions it holds now, replaying assign/revoke/lost in order."""
        owned: set[Partition] = set()
        for event in list(self.events):
            partitions = {(t, p) for t, p in event.get("partitions", [])}
            if event["event"] == "assigned":
                owned |= partitions
            elif event["event"] in ("revoked", "lost"):
                owned -= partitions
        return owned

    def rebalance_events(self) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["event"] in ("assigned", "revoked", "lost")]

    @property
    def messages(self) -> list[tuple[int, int, str]]:
        """(partition, offset, value) of every message it read."""
        return [
            (e["partition"], e["offset"], e["value"])
            for e in list(self.events)
            if e["event"] == "message"
        ]

    # ------------------------------------------------------------ ending it

    def close(self, timeout: float = 30.0) -> None:
        """Ask it to close cleanly and wait until it has."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("close\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout)

    def kill(self) -> None:
        """kill -9 this consumer's own process."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> GroupConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def wait_for_balance(
    consumers: list[GroupConsumer], partitions: set[Partition], timeout: float = 45.0
) -> None:
    """Until every partition has exactly one owner among `consumers`, each owns some, and no
    rebalance is half done (the ownership has been the same for a moment)."""
    deadline = time.monotonic() + timeout
    settled_since: float | None = None
    last: list[set[Partition]] | None = None
    while time.monotonic() < deadline:
        owned = [c.owned for c in consumers]
        union: set[Partition] = set().union(*owned)
        balanced = (
            union == partitions and sum(len(o) for o in owned) == len(partitions) and all(owned)
        )
        if balanced and owned == last:
            if settled_since is not None and time.monotonic() - settled_since >= 1.0:
                return
        else:
            settled_since = time.monotonic() if balanced else None
        last = owned
        time.sleep(0.1)
    raise TimeoutError(f"no balanced assignment: {[sorted(c.owned) for c in consumers]}")


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]), sys.argv[2:])
