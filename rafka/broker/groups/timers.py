"""Timers for the coordinator: session expiry, rebalance deadlines, offset expiry.

The coordinator never polls; it arms one timer per deadline and cancels it when the deadline
no longer matters (a heartbeat arrives, the rebalance completes). `LoopTimers` puts them on the
asyncio event loop; `ManualTimers` fires them when a test says time has passed, so the whole
rebalance protocol can be exercised deterministically without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    def call_later(self, delay_ms: int, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback` once, `delay_ms` from now, unless the handle is cancelled first."""
        ...


class LoopTimers:
    """Timers on the running asyncio event loop (asyncio.TimerHandle is a TimerHandle)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()

    def call_later(self, delay_ms: int, callback: Callable[[], None]) -> TimerHandle:
        return self._loop.call_later(max(delay_ms, 0) / 1000, callback)


class _ManualHandle:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualTimers:
    """Timers driven by `advance(ms)`; `now_ms` doubles as the coordinator's clock."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.now_ms = start_ms
        self._queue: list[tuple[int, int, _ManualHandle, Callable[[], None]]] = []
        self._sequence = itertools.count()

    def clock(self) -> int:
        return self.now_ms

    def call_later(self, delay_ms: int, callback: Callable[[], None]) -> TimerHandle:
        handle = _ManualHandle()
        entry = (self.now_ms + max(delay_ms, 0), next(self._sequence), handle, callback)
        heapq.heappush(self._queue, entry)
        return handle

    def advance(self, ms: int) -> None:
        """Move time forward, firing every timer that falls due, in deadline order."""
        target = self.now_ms + ms
        while self._queue and self._queue[0][0] <= target:
            due, _, handle, callback = heapq.heappop(self._queue)
            self.now_ms = max(self.now_ms, due)
            if not handle.cancelled:
                callback()
        self.now_ms = target

    @property
    def pending(self) -> int:
        return sum(1 for entry in self._queue if not entry[2].cancelled)
