"""End-to-end latency without coordinated omission and without batching artifacts.

The sender (this process) calls `send(payload)` `rate` times a second; each payload starts with
its *scheduled* send time (CLOCK_MONOTONIC ns, shared by every process on the machine), so a
stalled sender counts as latency instead of silently sending later. The receiver runs in a
spawned child process, so it never competes with the sender for the GIL, and records
`receive time - scheduled time` for every message the moment its client hands it over.

Receivers must wake per message: a receiver that asks its client for a batch (confluent-kafka's
`consume(1000, 0.1)`) waits until the batch is full or the timeout passes, and then reports the
timeout, not the broker (~50 ms median at 5,000 msg/s however fast the broker is).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import struct
import time
from array import array
from collections.abc import Callable
from multiprocessing.synchronize import Event
from typing import Any, Protocol

from rafka.bench._workload import Progress

WARMUP = -1  # stamps sent until the receiver has seen one: connections and metadata are warm
STOP = -2  # the last stamp: the receiver returns its samples
_STAMP = struct.Struct("<q")
_RESULT_TIMEOUT_S = 60.0


def stamped(ts: int, size: int) -> bytes:
    return _STAMP.pack(ts) + bytes(size - _STAMP.size)


class Sender(Protocol):
    def send(self, value: bytes) -> None: ...

    def close(self) -> None:
        """Deliver everything sent so far."""


class StampRecorder:
    """Used by a receiver in the child process: `record(value)` per message, as it arrives."""

    def __init__(self, ready: Event) -> None:
        self.ready = ready
        self.samples = array("q")

    def record(self, value: bytes) -> bool:
        """Record one message; True when it was the STOP stamp."""
        now = time.monotonic_ns()
        ts: int = _STAMP.unpack_from(value)[0]
        if ts >= 0:
            self.samples.append(now - ts)
            return False
        if ts == WARMUP:
            self.ready.set()
            return False
        return ts == STOP


# receiver(*args, recorder, deadline): returns when it has recorded STOP or at the deadline.
Receiver = Callable[..., None]


def _child(receiver: Receiver, args: tuple[Any, ...], deadline: float, out: Any,
           ready: Event) -> None:
    recorder = StampRecorder(ready)
    try:
        receiver(*args, recorder, deadline)
        out.put(recorder.samples.tobytes())
    except Exception as exc:  # report to the parent instead of leaving it waiting
        out.put(f"{type(exc).__name__}: {exc}")


def paced(send: Callable[[bytes], None], size: int, rate: int, seconds: float,
          progress: Progress) -> tuple[int, list[int]]:
    """Send `rate` stamped messages a second for `seconds`. Returns how many were sent and, per
    message, how late the send call returned after its scheduled time (ns): when that lag is
    large, the client machine, not the broker, is behind."""
    period_ns = 1e9 / rate
    total = int(rate * seconds)
    lags = array("q")
    t0 = time.monotonic_ns()
    for i in range(total):
        due = t0 + int(i * period_ns)
        now = time.monotonic_ns()
        if due > now:
            time.sleep((due - now) / 1e9)
        send(stamped(due, size))
        lags.append(time.monotonic_ns() - due)
        if i % 500 == 0:
            progress(i, total)
    progress(total, total)
    return total, lags.tolist()


def measure(sender: Sender, receiver: Receiver, receiver_args: tuple[Any, ...], *, size: int,
            rate: int, seconds: float, progress: Progress, warmup_s: float = 20.0
            ) -> tuple[int, list[int], list[int]]:
    """Run a paced sender here and `receiver` in a child; returns (sent, latency samples ns,
    sender lag samples ns)."""
    ctx = mp.get_context("spawn")
    results: Any = ctx.Queue()
    ready = ctx.Event()
    deadline = time.monotonic() + warmup_s + seconds + _RESULT_TIMEOUT_S
    child = ctx.Process(target=_child, args=(receiver, receiver_args, deadline, results, ready),
                        daemon=True)
    child.start()
    try:
        t_warm = time.monotonic()
        while not ready.is_set():
            if time.monotonic() - t_warm > warmup_s or not child.is_alive():
                break
            sender.send(stamped(WARMUP, size))
            ready.wait(0.05)
        if not ready.is_set():
            raise RuntimeError(_child_failure(results, child) or
                               f"the latency receiver saw nothing within {warmup_s:.0f} s")
        sent, lags = paced(sender.send, size, rate, seconds, progress)
        sender.send(stamped(STOP, size))
        sender.close()
        got = _wait_result(results, child)
    finally:
        child.join(5)
        if child.is_alive():
            child.kill()  # our own child, by its handle
            child.join(5)
    if isinstance(got, str):
        raise RuntimeError(f"latency receiver failed: {got}")
    samples = array("q")
    samples.frombytes(got)
    return sent, samples.tolist(), lags


def _wait_result(results: Any, child: Any) -> bytes | str:
    t_end = time.monotonic() + _RESULT_TIMEOUT_S
    while True:
        try:
            got: bytes | str = results.get(timeout=0.5)
            return got
        except queue.Empty:
            if not child.is_alive() or time.monotonic() > t_end:
                return f"no result from the receiver (exit code {child.exitcode})"


def _child_failure(results: Any, child: Any) -> str | None:
    if child.is_alive():
        return None
    try:
        got = results.get(timeout=1)
    except queue.Empty:
        return f"the latency receiver exited with {child.exitcode}"
    return f"latency receiver failed: {got}" if isinstance(got, str) else None
