"""step_eagerly: a handler coroutine runs at once, and becomes a task only if it must wait."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rafka.server.kafka.eager import step_eagerly


async def immediate() -> str:
    return "now"


async def waits_for(future: asyncio.Future[int]) -> int:
    return await future + 1


def test_a_coroutine_that_does_not_wait_finishes_in_the_call() -> None:
    assert step_eagerly(immediate()) == (True, "now")


def test_an_exception_before_waiting_propagates() -> None:
    async def fails() -> None:
        raise ValueError("bad request")

    with pytest.raises(ValueError, match="bad request"):
        step_eagerly(fails())


def test_a_waiting_coroutine_finishes_as_a_task() -> None:
    async def main() -> Any:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        finished, rest = step_eagerly(waits_for(future))
        assert not finished
        task = asyncio.ensure_future(rest)
        await asyncio.sleep(0.01)
        assert not task.done()
        future.set_result(41)
        return await task

    assert asyncio.run(main()) == 42


def test_waits_several_times_and_sees_exceptions_of_what_it_awaited() -> None:
    async def twice(loop: asyncio.AbstractEventLoop) -> str:
        await asyncio.sleep(0)
        first: asyncio.Future[None] = loop.create_future()
        loop.call_later(0.01, first.set_exception, KeyError("gone"))
        with pytest.raises(KeyError):
            await first
        await asyncio.sleep(0.01)
        return "done"

    async def main() -> Any:
        finished, rest = step_eagerly(twice(asyncio.get_running_loop()))
        assert not finished
        return await asyncio.ensure_future(rest)

    assert asyncio.run(main()) == "done"


def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    cleaned_up: list[bool] = []

    async def parked(future: asyncio.Future[None]) -> None:
        try:
            await future
        finally:
            cleaned_up.append(True)

    async def main() -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        _, rest = step_eagerly(parked(future))
        task = asyncio.ensure_future(rest)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert cleaned_up == [True]
