"""The broker's long poll (`rafka.broker.fetch`) on a real disk-backed Broker, in process:
parked fetches are answered by appends, by their timer, by the topic going away or the broker
stopping, and a dropped one leaves nothing behind, not even work for the garbage collector."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from rafka.broker import Broker, BrokerSettings, FetchedPartition, FetchPartition, LongPoll, fetch
from rafka.broker.errors import UnknownTopicOrPartitionError
from rafka.records.builder import Record, build_batch


def batch(value: bytes) -> bytes:
    return build_batch([Record(value=value, timestamp_ms=1, offset=0)])


@asynccontextmanager
async def open_broker(tmp_path: Path) -> AsyncIterator[Broker]:
    broker = Broker(BrokerSettings(data_dir=tmp_path, engine="disk"))
    broker.open()
    broker.create_topic("t", 2)
    try:
        yield broker
    finally:
        await broker.close()


def park(broker: Broker, *parts: tuple[int, int], wait_ms: int = 30_000,
         min_bytes: int = 1) -> LongPoll:
    polled = fetch(broker, [FetchPartition("t", p, offset, 1 << 20) for p, offset in parts],
                   wait_ms, min_bytes, 1 << 20)
    assert isinstance(polled, LongPoll), "nothing to read yet, so the fetch must park"
    return polled


def sizes(results: list[FetchedPartition]) -> list[int]:
    return [r.size for r in results]


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_data_present_is_answered_without_parking(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_broker(tmp_path) as broker:
            broker.get_partition("t", 0).append(batch(b"here"))
            results = fetch(broker, [FetchPartition("t", 0, 0, 1 << 20)], 30_000, 1, 1 << 20)
            assert isinstance(results, list)
            assert results[0].size > 0

    asyncio.run(main())


def test_an_append_to_any_of_its_partitions_answers_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_broker(tmp_path) as broker:
            future = park(broker, (0, 0), (1, 0)).then(sizes)
            await settle()
            assert not future.done()
            assert broker.parked_fetches == 1  # one fetch, however many partitions
            broker.get_partition("t", 1).append(batch(b"second partition"))
            answer = await asyncio.wait_for(future, 5)
            assert answer[0] == 0 and answer[1] > 0
            # Answered: it no longer listens on either partition.
            await settle()
            assert [broker.get_partition("t", p).parked_fetches for p in (0, 1)] == [0, 0]
            assert broker.parked_fetches == 0

    asyncio.run(main())


def test_it_waits_on_until_min_bytes_have_arrived(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_broker(tmp_path) as broker:
            one = len(batch(b"x" * 100))
            future = park(broker, (0, 0), min_bytes=2 * one).then(sizes)
            partition = broker.get_partition("t", 0)
            partition.append(batch(b"x" * 100))
            await settle()
            assert not future.done(), "one batch is less than min_bytes"
            assert partition.parked_fetches == 1, "it must listen again after a short read"
            partition.append(batch(b"x" * 100))
            assert await asyncio.wait_for(future, 5) == [2 * one]

    asyncio.run(main())


def test_max_wait_answers_with_what_there_is(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_broker(tmp_path) as broker:
            loop = asyncio.get_running_loop()
            started = loop.time()
            answer = await asyncio.wait_for(park(broker, (0, 0), wait_ms=200).then(sizes), 5)
            assert answer == [0]
            assert loop.time() - started >= 0.19

    asyncio.run(main())


def test_a_dropped_poll_stops_listening_and_its_timer_never_fires(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_broker(tmp_path) as broker:
            answered: list[object] = []

            def respond(results: list[FetchedPartition]) -> None:
                answered.append(results)

            future = park(broker, (0, 0), (1, 0), wait_ms=100).then(respond)
            future.cancel()  # what the connection does when its client goes away
            await settle()
            assert [broker.get_partition("t", p).parked_fetches for p in (0, 1)] == [0, 0]
            assert broker.parked_fetches == 0
            broker.get_partition("t", 0).append(batch(b"after"))
            await asyncio.sleep(0.3)  # past the poll's max wait
            assert answered == []

    asyncio.run(main())


def test_deleting_the_topic_answers_with_an_error_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_broker(tmp_path) as broker:
            future = park(broker, (0, 0)).then(lambda results: results)
            broker.delete_topic("t")
            (result,) = await asyncio.wait_for(future, 5)
            assert isinstance(result.error, UnknownTopicOrPartitionError)

    asyncio.run(main())


def test_stopping_the_broker_answers_parked_fetches(tmp_path: Path) -> None:
    async def main() -> None:
        broker = Broker(BrokerSettings(data_dir=tmp_path, engine="disk"))
        broker.open()
        broker.create_topic("t", 1)
        future = park(broker, (0, 0)).then(sizes)
        await broker.close()
        assert await asyncio.wait_for(future, 5) == [0]

    asyncio.run(main())


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_failing_response_reaches_the_future_and_lets_go_of_its_files(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with open_broker(tmp_path) as broker:
            seen: list[int] = []

            def respond(results: list[FetchedPartition]) -> Any:
                seen.append(results[0].size)
                raise ValueError("cannot encode")

            before = open_descriptors()
            future = park(broker, (0, 0)).then(respond)
            # Large enough to be read as a region of the segment file (a dup'd descriptor).
            broker.get_partition("t", 0).append(batch(b"x" * (256 * 1024)))
            with pytest.raises(ValueError, match="cannot encode"):
                await asyncio.wait_for(future, 5)
            assert seen and seen[0] > 256 * 1024
            assert open_descriptors() == before

    asyncio.run(main())


def test_then_is_single_use(tmp_path: Path) -> None:
    async def main() -> None:
        async with open_broker(tmp_path) as broker:
            polled = park(broker, (0, 0))
            polled.then(sizes)
            with pytest.raises(RuntimeError):
                polled.then(sizes)

    asyncio.run(main())


def test_on_settled_is_called_from_the_read_that_ends_the_poll(tmp_path: Path) -> None:
    # The front door's way to answer a woken fetch without a loop turn for done callbacks.
    async def main() -> None:
        async with open_broker(tmp_path) as broker:
            settled: list[tuple[bool, list[int], int]] = []

            def on_settled(future: asyncio.Future[list[int]]) -> None:
                settled.append((future.done(), future.result(), broker.parked_fetches))

            future = park(broker, (0, 0)).then(sizes, on_settled)
            broker.get_partition("t", 0).append(batch(b"wake"))
            assert settled == []  # the read waits for the loop's next turn
            await asyncio.sleep(0)
            # Settled, unparked and reported in that one callback.
            assert len(settled) == 1
            done, answer, parked = settled[0]
            assert done and answer[0] > 0 and parked == 0
            assert future.result() == answer

            cancelled: list[object] = []
            park(broker, (0, 1)).then(sizes, cancelled.append).cancel()
            await settle()
            assert cancelled == [] and broker.parked_fetches == 0

    asyncio.run(main())


@contextmanager
def left_for_the_collector() -> Iterator[list[object]]:
    """Collects, at the end of the block, what only the cycle collector could free (objects
    in reference cycles) among what the block left behind."""
    gc.collect()
    flags = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what a collection finds in gc.garbage
    found: list[object] = []
    try:
        yield found
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()


def test_finished_polls_are_freed_at_once_not_by_the_garbage_collector(tmp_path: Path) -> None:
    # A consumer following the tail parks once per message. A poll caught in a reference
    # cycle lived on, with its request, its response and the connection's callback, until
    # the collector's next pass: ~30 objects a message, and a collector pause every ~100 ms.
    async def main() -> None:
        async with open_broker(tmp_path) as broker:
            with left_for_the_collector() as garbage:
                answered = park(broker, (0, 0)).then(sizes)
                broker.get_partition("t", 0).append(batch(b"wake"))
                assert (await asyncio.wait_for(answered, 5))[0] > 0
                expired = park(broker, (1, 0), wait_ms=1).then(sizes)
                assert await asyncio.wait_for(expired, 5) == [0]
                cancelled = park(broker, (1, 0)).then(sizes)
                cancelled.cancel()
                await settle()
                del answered, expired, cancelled
            assert [o for o in garbage if isinstance(o, LongPoll)] == []

    asyncio.run(main())
