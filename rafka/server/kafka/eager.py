"""Run a handler's coroutine eagerly, and only make it a task if it has to wait.

Handlers that may wait return a coroutine: Produce on `flush.messages=1` topics (the fsync)
and the group handlers (a join or sync waiting for the group). Wrapping every such call in an
`asyncio.Task` costs a task, a done callback and an extra event-loop iteration before the
response is written, even when the coroutine finishes without waiting. Python 3.12's eager
tasks avoid that; this is the same, by hand, for 3.11: step the coroutine once, and if it
finished, the answer is ready now. (Fetch, the case this was written for, no longer needs it:
its long poll is driven by callbacks, `rafka.broker.fetch.LongPoll`, and the handler hands the
connection an `AnswerLater` that calls it back when the poll ends.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def step_eagerly(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run `coro` until it first waits. (True, result) if it finished without waiting (an
    exception it raised propagates); otherwise (False, awaitable) where the awaitable, run
    as a task, finishes the coroutine with the same result, exception or cancellation."""
    try:
        waiting_on = coro.send(None)
    except StopIteration as done:
        return True, done.value
    return False, _finish(coro, waiting_on)


async def _finish(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    """Drive `coro` on as a Task would: wait for what it yielded, then resume it."""
    while True:
        cancelled: asyncio.CancelledError | None = None
        try:
            if waiting_on is None:
                await asyncio.sleep(0)  # a bare yield: it only gave the loop a turn
            else:
                # What a Task does with a future it is handed: take over the wait.
                waiting_on._asyncio_future_blocking = False
                await waiting_on
        except asyncio.CancelledError as exc:
            cancelled = exc  # our task was cancelled: cancel the coroutine where it waits
        except BaseException:  # the coroutine reads the outcome itself when resumed
            pass
        try:
            waiting_on = coro.throw(cancelled) if cancelled is not None else coro.send(None)
        except StopIteration as done:
            return done.value
        finally:
            # A CancelledError thrown in comes back out with a traceback through this frame;
            # holding it here too would make a cycle that keeps the coroutine's frame (and
            # what it holds, such as open file regions) alive until the cycle collector runs.
            cancelled = None
