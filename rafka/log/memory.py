"""The in-memory partition log: the same interface and the same offset, roll, retention and
truncation semantics as the disk log, with nothing durable.

Batches are kept in in-memory "segments" that roll on segment.bytes and segment.ms exactly like
disk segments, so retention by age or size deletes the same prefix of the log either way and
tests written against one engine hold for the other. Each append is copied once into a
bytearray (offsets patched in place, as on disk) that is never modified again; reads return
read-only `memoryview` slices of it, one per batch, so a read copies nothing and the views stay
valid for as long as the caller keeps them. `flush()` does nothing; `close()` only marks the
log closed.

Compaction: this engine does *not* compact. `clean()` reports that and changes nothing, so a
cleanup.policy=compact topic here keeps every record (time and size retention still apply
with compact,delete). Nothing in memory outlives the process, so compaction would only save
memory; the readers (consumers, the group coordinator's reload) already take the last value
per key. The keyless-record check of compacted topics applies to both engines.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from typing import Any

from rafka.log.api import (
    AppendResult,
    CleanResult,
    LogClosedError,
    LogConfig,
    LogStats,
    ReadResult,
    TimestampOffset,
)
from rafka.log.append import prepare_append
from rafka.log.base import LogProperties
from rafka.log.disk import wall_clock_ms
from rafka.log.leader_epoch import LeaderEpochCache
from rafka.log.retention import segments_to_delete
from rafka.log.timestamps import first_record_at_or_after, record_with_timestamp

logger = logging.getLogger("rafka.log")

NO_TIMESTAMP = -1


class _MemorySegment:
    """One in-memory segment: parallel per-batch lists, oldest first."""

    __slots__ = (
        "base_offset",
        "batches",
        "last_modified_ms",
        "lasts",
        "max_timestamp",
        "maxes",
        "next_offset",
        "offset_of_max_timestamp",
        "rolling_base_ms",
        "running_max",
        "size",
    )

    def __init__(self, base_offset: int) -> None:
        self.base_offset = base_offset
        self.batches: list[memoryview] = []
        self.lasts: list[int] = []  # last offset of each batch
        self.maxes: list[int] = []  # max timestamp of each batch
        self.running_max: list[int] = []  # max timestamp of batches [0, i]: bisectable
        self.size = 0
        self.next_offset = base_offset
        self.max_timestamp = NO_TIMESTAMP
        self.offset_of_max_timestamp = base_offset
        self.last_modified_ms = 0
        self.rolling_base_ms: int | None = None

    @property
    def largest_timestamp_ms(self) -> int:
        return self.max_timestamp if self.max_timestamp >= 0 else self.last_modified_ms

    def batch_base(self, i: int) -> int:
        return self.lasts[i - 1] + 1 if i else self.base_offset

    def truncate_batches(self, keep: int, offset: int) -> None:
        """Keep the first `keep` batches; the log now ends at or before `offset`."""
        if keep >= len(self.batches):
            return
        removed_base = self.batch_base(keep)
        del self.batches[keep:]
        del self.lasts[keep:]
        del self.maxes[keep:]
        del self.running_max[keep:]
        self.size = sum(len(batch) for batch in self.batches)
        self.next_offset = min(removed_base, offset) if keep else self.base_offset
        if self.running_max and self.running_max[-1] >= 0:
            self.max_timestamp = self.running_max[-1]
            first = bisect.bisect_left(self.running_max, self.max_timestamp)
            self.offset_of_max_timestamp = self.batch_base(first)
        else:
            self.max_timestamp = NO_TIMESTAMP
            self.offset_of_max_timestamp = self.base_offset
        if not keep:
            self.rolling_base_ms = None


class MemoryLog(LogProperties):
    def __init__(
        self, config: LogConfig, clock: Callable[[], int] = wall_clock_ms, start_offset: int = 0
    ) -> None:
        self._config = config
        self._clock = clock
        self._stats = LogStats()
        self._segments: list[_MemorySegment] = [_MemorySegment(start_offset)]
        self._bases = [start_offset]
        self._log_start_offset = start_offset
        self._next_offset = start_offset
        self._high_watermark = start_offset
        self._epochs = LeaderEpochCache()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"MemoryLog(start={self._log_start_offset}, end={self._next_offset}, "
            f"segments={len(self._segments)})"
        )

    # ------------------------------------------------------------- properties

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError("log is closed")

    # ----------------------------------------------------------------- append

    def append(
        self, records: bytes | bytearray | memoryview, leader_epoch: int = 0
    ) -> AppendResult:
        self._check_open()
        now = self._clock()
        prepared = prepare_append(records, self._next_offset, leader_epoch, self._config, now)
        self._maybe_roll(prepared.size, now)
        segment = self._segments[-1]
        view = memoryview(prepared.joined()).toreadonly()  # its own copy, never the caller's
        position = 0
        max_timestamp = segment.max_timestamp
        for size, base, last, batch_max in prepared.spans:
            segment.batches.append(view[position : position + size])
            segment.lasts.append(last)
            segment.maxes.append(batch_max)
            if batch_max > max_timestamp:
                max_timestamp = batch_max
                segment.offset_of_max_timestamp = base
            segment.running_max.append(max_timestamp)
            position += size
        segment.max_timestamp = max_timestamp
        segment.size += prepared.size
        segment.next_offset = prepared.last_offset + 1
        segment.last_modified_ms = now
        if segment.rolling_base_ms is None:
            segment.rolling_base_ms = now
        self._next_offset = prepared.last_offset + 1
        if leader_epoch >= 0 and leader_epoch != self._epochs.latest_epoch:
            self._epochs.assign(leader_epoch, prepared.first_offset)
        return AppendResult(
            base_offset=prepared.first_offset,
            last_offset=prepared.last_offset,
            log_append_time_ms=prepared.log_append_time_ms,
            log_start_offset=self._log_start_offset,
        )

    def _maybe_roll(self, size: int, now: int) -> None:
        active = self._segments[-1]
        if active.size == 0:
            return
        rolling_base = active.rolling_base_ms if active.rolling_base_ms is not None else now
        if (
            active.size + size > self._config.segment_bytes
            or now - rolling_base > self._config.segment_ms
        ):
            self._roll_now()

    def _roll_now(self) -> _MemorySegment:
        active = self._segments[-1]
        if active.size == 0:
            return active
        segment = _MemorySegment(self._next_offset)
        self._segments.append(segment)
        self._bases.append(segment.base_offset)
        self._stats.segments_rolled += 1
        return segment

    def roll(self) -> int:
        self._check_open()
        return self._roll_now().base_offset

    # ------------------------------------------------------------------- read

    # read() and read_for_sending() are LogProperties'; the stored batches are already in
    # memory, so there is nothing to gain from a file region (region_min is ignored).

    def _fill(
        self,
        result: ReadResult[Any],
        offset: int,
        max_bytes: int,
        limit: int,
        min_one_batch: bool,
        region_min: int,
    ) -> None:
        remaining = max_bytes
        first = min_one_batch
        chunks = result.chunks
        size = 0
        index = bisect.bisect_right(self._bases, offset) - 1
        batch = bisect.bisect_left(self._segments[index].lasts, offset)
        for segment in self._segments[index:]:
            lasts = segment.lasts
            batches = segment.batches
            while batch < len(batches):
                if lasts[batch] >= limit:
                    result.size = size
                    return
                data = batches[batch]
                if len(data) > remaining and not first:
                    # Over budget; only the first batch of a read may exceed it, and only
                    # when the caller allows (min_one_batch).
                    result.size = size
                    return
                chunks.append(data)
                size += len(data)
                remaining -= len(data)
                first = False
                batch += 1
            batch = 0
        result.size = size

    # ------------------------------------------------------------- timestamps

    def offset_for_timestamp(self, timestamp_ms: int) -> TimestampOffset | None:
        self._check_open()
        start = self._log_start_offset
        first_segment = max(bisect.bisect_right(self._bases, start) - 1, 0)
        for segment in self._segments[first_segment:]:
            if segment.max_timestamp < timestamp_ms:
                continue
            i = max(
                bisect.bisect_left(segment.running_max, timestamp_ms),
                bisect.bisect_left(segment.lasts, start),
            )
            while i < len(segment.batches):
                if segment.maxes[i] >= timestamp_ms:
                    return first_record_at_or_after(
                        segment.batches[i],
                        timestamp_ms,
                        start,
                        segment.batch_base(i),
                        segment.maxes[i],
                    )
                i += 1
        return None

    def max_timestamp(self) -> TimestampOffset | None:
        self._check_open()
        best: _MemorySegment | None = None
        for segment in self._segments:
            if segment.max_timestamp >= 0 and (
                best is None or segment.max_timestamp > best.max_timestamp
            ):
                best = segment
        if best is None:
            return None
        i = bisect.bisect_left(best.lasts, best.offset_of_max_timestamp)
        return record_with_timestamp(best.batches[i], best.max_timestamp, best.batch_base(i))

    # ---------------------------------------------------------------- offsets

    def _advance_log_start(self, offset: int) -> None:
        self._log_start_offset = offset
        self._epochs.truncate_from_start(offset)

    def _delete_oldest(self, count: int) -> None:
        del self._segments[:count]
        del self._bases[:count]
        if self._segments[0].base_offset > self._log_start_offset:
            self._log_start_offset = self._segments[0].base_offset
            self._epochs.truncate_from_start(self._log_start_offset)

    def apply_retention(self, now_ms: int) -> int:
        self._check_open()
        count, reasons = segments_to_delete(
            self._segments, self._config, now_ms, self._high_watermark, self._log_start_offset
        )
        if not count:
            return 0
        self._delete_oldest(count)
        self._stats.segments_deleted_by_retention += count
        logger.info(
            "in-memory log: retention deleted %d segment(s) (%s); log start offset now %d",
            count,
            "; ".join(reasons),
            self._log_start_offset,
        )
        return count

    def clean(self, now_ms: int) -> CleanResult:
        return CleanResult(False, "the in-memory engine does not compact (retention only)")

    def update_config(self, config: LogConfig) -> None:
        self._config = config

    # ------------------------------------------------------------------ flush

    def needs_flush(self, now_ms: int) -> bool:
        return False

    def flush(self) -> None:
        return None

    # ---------------------------------------------------------- leader epochs

    def leader_epoch_start_offsets(self) -> Sequence[tuple[int, int]]:
        return self._epochs.entries()

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        return self._epochs.end_offset_for(epoch, self._next_offset)

    # ------------------------------------------------------------- truncation

    def truncate_to(self, offset: int) -> None:
        self._check_open()
        if offset < 0:
            raise ValueError(f"cannot truncate to negative offset {offset}")
        if offset >= self._next_offset:
            return
        if offset <= self._log_start_offset or offset <= self._segments[0].base_offset:
            self._segments = [_MemorySegment(offset)]
            self._bases = [offset]
            self._log_start_offset = offset
            self._next_offset = offset
            self._epochs.clear()
        else:
            keep = bisect.bisect_left(self._bases, offset)
            del self._segments[keep:]
            del self._bases[keep:]
            active = self._segments[-1]
            active.truncate_batches(bisect.bisect_left(active.lasts, offset), offset)
            self._next_offset = active.next_offset
            # A batch straddling the log start may have gone whole.
            self._log_start_offset = min(self._log_start_offset, self._next_offset)
        self._high_watermark = min(self._high_watermark, self._next_offset)
        self._epochs.truncate_from_end(self._next_offset)

    # ------------------------------------------------------------ close, delete

    def close(self) -> None:
        self._closed = True

    def delete(self) -> None:
        self._closed = True
        self._segments = [_MemorySegment(self._next_offset)]
        self._bases = [self._next_offset]
