"""One partition as the broker sees it: its log, its leader epoch, and who is waiting on it.

The broker owns the policy around the log: advancing the high watermark (on one node, to the
log end offset after every append; with replication, once followers catch up), waking fetches
that long-poll for new data, and group-committing fsyncs so that many produce requests waiting
on `flush.messages=1` share one fsync instead of queueing one each.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from concurrent.futures import Executor

from rafka.broker.producers import PartitionProducerState
from rafka.log import AppendResult, PartitionLog
from rafka.records import BATCH_HEADER_SIZE, InvalidBatchError, parse_header
from rafka.records.batch import PRODUCER_ID_AT

logger = logging.getLogger("rafka.broker")

_PRODUCER_ID = struct.Struct(">q")


class Partition:
    def __init__(
        self,
        topic: str,
        index: int,
        log: PartitionLog,
        flush_executor: Executor,
        leader_epoch: int = 0,
    ) -> None:
        self.topic = topic
        self.index = index
        self.log = log
        self.leader_epoch = leader_epoch
        self._flush_executor = flush_executor
        # Fetches parked until new data arrives; each is a callback that wakes one fetch.
        self._waiters: set[Callable[[], None]] = set()
        self._flush_task: asyncio.Future[None] | None = None
        self._flushed_offset = log.log_end_offset
        self.producers = PartitionProducerState()
        # Plain integers on the hot path; the metrics collector reads them at scrape time.
        self.messages_in = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.messages_out = 0

    def __repr__(self) -> str:
        return f"Partition({self.topic}-{self.index})"

    def append(self, records: bytes | memoryview) -> AppendResult:
        """Append as leader. Raises BatchError subclasses for bad input; nothing is written then.

        Batches from idempotent producers go through the sequence checks first; a retried
        batch that is already stored returns its original offsets without being appended.
        """
        # Most producers are not idempotent (producerId -1): read that one field before
        # building the whole header tuple.
        header = (
            parse_header(records)
            if len(records) >= BATCH_HEADER_SIZE
            and _PRODUCER_ID.unpack_from(records, PRODUCER_ID_AT)[0] >= 0
            else None
        )
        if header is not None:
            if header.size != len(records):
                raise InvalidBatchError("an idempotent produce must carry exactly one batch")
            duplicate = self.producers.check(header)
            if duplicate is not None:
                return AppendResult(
                    duplicate.base_offset, duplicate.last_offset, -1, self.log.log_start_offset
                )
            result = self.log.append(records, self.leader_epoch)
            self.producers.record(header, result.base_offset, result.last_offset)
        else:
            result = self.log.append(records, self.leader_epoch)
        # Single node: everything appended is committed. Replication will move this.
        self.log.set_high_watermark(self.log.log_end_offset)
        self.messages_in += result.last_offset - result.base_offset + 1
        self.bytes_in += len(records)
        if self._waiters:
            self._wake_waiters()
        return result

    @property
    def parked_fetches(self) -> int:
        """Fetches waiting for this partition's next append."""
        return len(self._waiters)

    def add_waiter(self, wake: Callable[[], None]) -> None:
        self._waiters.add(wake)

    def remove_waiter(self, wake: Callable[[], None]) -> None:
        self._waiters.discard(wake)

    def _wake_waiters(self) -> None:
        if self._waiters:
            waiters, self._waiters = self._waiters, set()
            for wake in waiters:
                wake()

    def wake_all(self) -> None:
        """Release parked fetches (the partition is going away or the broker is stopping)."""
        self._wake_waiters()

    async def flush_through(self, offset: int) -> None:
        """Return once everything below `offset` is fsynced. Callers that arrive while a flush
        is running wait for it and then, if it did not cover them, share the next one."""
        while self._flushed_offset < offset:
            if self._flush_task is None:
                self._flush_task = asyncio.ensure_future(self._flush())
            await asyncio.shield(self._flush_task)

    def flush_in_background(self) -> None:
        """Start a flush if none is running (the periodic flush.ms timer)."""
        if self._flush_task is None and self._flushed_offset < self.log.log_end_offset:
            self._flush_task = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        target = self.log.log_end_offset
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._flush_executor, self.log.flush)
            self._flushed_offset = max(self._flushed_offset, target)
        except Exception:
            logger.exception("fsync of %s-%d failed", self.topic, self.index)
            raise
        finally:
            self._flush_task = None

    def truncated(self) -> None:
        """The log lost its tail (truncate_to / DeleteRecords): keep bookkeeping consistent."""
        self._flushed_offset = min(self._flushed_offset, self.log.log_end_offset)
