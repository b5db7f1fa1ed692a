"""A small synchronous wrapper for scripts: the async clients on an event loop in a background
thread.

    with SyncProducer("127.0.0.1:50051") as producer:
        print(producer.publish("my-topic", b"Hello", key="key-1").offset)

    with SyncConsumer("127.0.0.1:50051", consumer_id="c1") as consumer:
        for message in consumer.consume("my-topic", max_messages=10, timeout_s=5):
            print(message.payload)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from rafka.client.consumer import CommitMode, Consumer, Start
from rafka.client.producer import Headers, Producer
from rafka.client.types import Delivery, Message

T = TypeVar("T")


class _LoopThread:
    """An event loop running in a daemon thread; `run()` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        return self.submit(coroutine).result(timeout_s)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


class SyncProducer:
    def __init__(self, brokers: str | Sequence[str] = "127.0.0.1:50051", **options: Any) -> None:
        self._thread = _LoopThread()

        async def make() -> Producer:
            return await Producer(brokers, **options).start()

        try:
            self._producer = self._thread.run(make())
        except BaseException:
            self._thread.stop()
            raise

    def publish(
        self,
        topic: str,
        payload: bytes | str | None,
        key: bytes | str | None = None,
        *,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> Delivery:
        """Publish one message and wait for where it was stored."""
        return self._thread.run(
            self._producer.publish_and_wait(
                topic, payload, key, headers=headers, partition=partition
            )
        )

    def publish_nowait(
        self,
        topic: str,
        payload: bytes | str | None,
        key: bytes | str | None = None,
        *,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> concurrent.futures.Future[Delivery]:
        """Queue one message (batched with others); the future resolves once stored."""
        return self._thread.submit(
            self._producer.publish_and_wait(
                topic, payload, key, headers=headers, partition=partition
            )
        )

    def flush(self) -> None:
        self._thread.run(self._producer.flush())

    def close(self) -> None:
        try:
            self._thread.run(self._producer.close())
        finally:
            self._thread.stop()

    def __enter__(self) -> SyncProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncConsumer:
    def __init__(
        self,
        brokers: str | Sequence[str] = "127.0.0.1:50051",
        consumer_id: str | None = None,
        *,
        start: Start = "committed",
        commit: CommitMode = "batch",
        **options: Any,
    ) -> None:
        self._thread = _LoopThread()

        async def make() -> Consumer:
            consumer = Consumer(brokers, consumer_id, start=start, commit=commit, **options)
            return await consumer.start()

        try:
            self._consumer = self._thread.run(make())
        except BaseException:
            self._thread.stop()
            raise

    @property
    def consumer_id(self) -> str:
        return self._consumer.consumer_id

    def subscribe(self, topic: str) -> int:
        return self._thread.run(self._consumer.subscribe(topic))

    def consume(
        self,
        topic: str | None = None,
        *,
        max_messages: int | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[Message]:
        """Messages until `max_messages` were returned or none arrived for `timeout_s`."""
        stream = self._consumer.consume(topic)
        count = 0

        async def next_message() -> Message:
            return await stream.__anext__()

        try:
            while max_messages is None or count < max_messages:
                try:
                    message = self._thread.run(
                        asyncio.wait_for(next_message(), timeout_s), None
                    )
                except (TimeoutError, StopAsyncIteration):
                    return
                count += 1
                yield message
        finally:
            self._thread.run(stream.aclose())

    def commit(self) -> None:
        self._thread.run(self._consumer.commit())

    def acknowledge(self, message: Message) -> int:
        return self._thread.run(self._consumer.acknowledge(message))

    def close(self) -> None:
        try:
            self._thread.run(self._consumer.close())
        finally:
            self._thread.stop()

    def __enter__(self) -> SyncConsumer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
