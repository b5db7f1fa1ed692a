"""The durable partition log: Kafka's UnifiedLog and LocalLog over a list of LogSegments.

This file owns one partition's offsets (log start, high watermark, log end, recovery point),
its segment list (roll, read across segments, truncate, delete), the retention and flush
policies, and the checkpoints that make them survive a restart. What a segment, an index, a
checkpoint or recovery does on its own lives in the module named after it.

Hot paths:
- append: header checks and CRC32C (native), one copy of the request into a bytearray, offsets
  and epoch patched in place, one `os.write`; index entries are kept in memory and reach the
  index files only at flush/roll/close.
- read: a bisect over segment base offsets, a bisect in the offset index, then usually one
  `os.pread` per segment touched; the result is `memoryview`s over immutable `bytes` (safe to
  keep), whole batches only, found by reading batch headers near the index entry.

Threads: every method runs on the broker's event-loop thread except `flush()` and `clean()`,
which may run in worker threads concurrently with appends, reads, rolls, retention and
truncation (the cleaner's side is described in `rafka.log.cleaner`).
`self._lock` guards the segment list and each segment's files and index arrays; `flush()`
holds it only to write pending index entries and duplicate the file descriptors of dirty
segments, then fsyncs the duplicates without it (a segment deleted meanwhile is fsynced
harmlessly through its duplicate). `self._flush_lock` makes flush, truncate_to, close and
delete, and the cleaner's segment swap mutually exclusive, so the recovery point written by a
flush can never describe a log that a concurrent truncation already cut.

Guarantee: when `flush()` returns, every batch whose `append()` returned before `flush()` was
called is on disk (data, size, index entries and directory entries fsynced), and the recovery
point checkpoint covers it. After a crash, loading rescans everything from the recovery point.
"""

from __future__ import annotations

import bisect
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rafka.log.api import (
    AppendResult,
    CleanResult,
    LogClosedError,
    LogConfig,
    LogStats,
    LogStorageError,
    ReadResult,
    TimestampOffset,
)
from rafka.log.append import prepare_append
from rafka.log.base import LogProperties
from rafka.log.checkpoint import (
    CLEANER_OFFSET_FILE,
    LOG_START_OFFSET_FILE,
    RECOVERY_POINT_FILE,
    CleanerCheckpointFile,
    CleanShutdownMarker,
    OffsetCheckpointFile,
    fsync_dir,
)
from rafka.log.cleaner import clean_log
from rafka.log.disk_cleaning import CleanerHooks
from rafka.log.recovery import load_log
from rafka.log.retention import segments_to_delete
from rafka.log.segment import MAX_RELATIVE_OFFSET, LogSegment
from rafka.log.tail_cache import TailCache
from rafka.log.timestamps import first_record_at_or_after, record_with_timestamp

# Bytes of recent appends kept in memory per partition for tail reads (rafka.log.tail_cache):
# enough for a consumer keeping up, small enough for thousands of partitions.
TAIL_CACHE_BYTES = 32 * 1024
# read_for_sending() hands out runs at least this long as file regions to sendfile; shorter
# ones (a consumer following the tail) are one pread, cheaper than dup + sendfile + close.
REGION_MIN_BYTES = 64 * 1024

logger = logging.getLogger("rafka.log")

_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _sync_and_close(fds: list[int]) -> None:
    """fdatasync every descriptor, close them all even if one fails, re-raise the first error."""
    error: OSError | None = None
    for fd in fds:
        try:
            if error is None:
                _fdatasync(fd)
        except OSError as exc:
            error = exc
        finally:
            os.close(fd)
    if error is not None:
        raise error


class DiskLog(LogProperties, CleanerHooks):
    """One partition's segmented log in `directory` (created if missing, recovered if the
    last shutdown was not clean)."""

    def __init__(
        self, directory: Path, config: LogConfig, clock: Callable[[], int] = wall_clock_ms
    ) -> None:
        self._directory = directory
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stats = LogStats()
        now = clock()
        loaded = load_log(directory, config, now)
        self.clean_shutdown = loaded.clean_shutdown
        self._stats.segments_recovered = loaded.segments_recovered
        self._stats.bytes_truncated_by_recovery = loaded.bytes_truncated
        self._segments: list[LogSegment] = loaded.segments
        self._bases = [segment.base_offset for segment in self._segments]
        self._log_start_offset = loaded.log_start_offset
        self._next_offset = self._segments[-1].next_offset
        self._high_watermark = self._next_offset
        # Everything below the recovery point is fsynced. The checkpoint file may lag behind
        # (see _persist_recovery_point) but is never ahead.
        self._recovery_point = loaded.recovery_point
        self._persisted_recovery_point = loaded.recovery_point
        # The log end offset the last completed flush covered (drives needs_flush).
        self._flushed_offset = loaded.recovery_point
        self._last_flush_ms = now
        self._epochs = loaded.epochs
        self._recovery_checkpoint = OffsetCheckpointFile(directory / RECOVERY_POINT_FILE)
        self._start_checkpoint = OffsetCheckpointFile(directory / LOG_START_OFFSET_FILE)
        self._dir_dirty = False
        self._closed = False
        # Log compaction: where the dirty part begins, when the earliest kept tombstone may
        # go, and a count of truncations (a cleaner pass that saw another count gives up).
        self._cleaner_checkpoint = CleanerCheckpointFile(directory / CLEANER_OFFSET_FILE)
        self._first_dirty, self._clean_horizon = self._read_cleaner_checkpoint()
        self._truncations = 0
        # The newest small appends of the active segment, for consumers at the tail.
        self._tail = TailCache(TAIL_CACHE_BYTES)

    def __repr__(self) -> str:
        return (
            f"DiskLog({self._directory}, start={self._log_start_offset}, "
            f"end={self._next_offset}, segments={len(self._segments)})"
        )

    # ------------------------------------------------------------- properties

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def recovery_point(self) -> int:
        return self._recovery_point

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(f"log {self._directory} is closed")

    # ----------------------------------------------------------------- append

    def append(
        self, records: bytes | bytearray | memoryview, leader_epoch: int = 0
    ) -> AppendResult:
        self._check_open()
        now = self._clock()
        prepared = prepare_append(records, self._next_offset, leader_epoch, self._config, now)
        with self._lock:
            try:
                self._maybe_roll(prepared.size, now, prepared.last_offset)
                self._segments[-1].append(prepared.pieces, prepared.spans, now)
                if prepared.copied is not None:
                    self._tail.add(prepared.copied, prepared.spans)
                else:  # uncopied: larger than the cache holds, and not one buffer
                    self._tail.clear()
            except OSError as exc:
                raise LogStorageError(f"append to {self._directory} failed: {exc}") from exc
            self._next_offset = prepared.last_offset + 1
        if leader_epoch >= 0 and leader_epoch != self._epochs.latest_epoch:
            self._epochs.assign(leader_epoch, prepared.first_offset)
        return AppendResult(
            base_offset=prepared.first_offset,
            last_offset=prepared.last_offset,
            log_append_time_ms=prepared.log_append_time_ms,
            log_start_offset=self._log_start_offset,
        )

    def _maybe_roll(self, size: int, now: int, last_offset: int) -> None:
        """Roll before an append of `size` bytes if the active segment would pass
        segment.bytes, is older than segment.ms, has a full index, or could not express
        `last_offset` relative to its base. An empty segment never rolls."""
        active = self._segments[-1]
        active_size = active.size
        if active_size == 0:
            return
        config = self._config
        if (
            active_size + size > config.segment_bytes
            or last_offset - active.base_offset > MAX_RELATIVE_OFFSET
            or active.indexes_full
            or now - active.rolling_base_ms(now) > config.segment_ms
        ):
            self._roll_locked(now)

    def _roll_locked(self, now: int) -> LogSegment:
        active = self._segments[-1]
        if active.size == 0:
            return active
        active.on_become_inactive()
        self._tail.clear()
        segment = LogSegment.create(
            self._directory,
            self._next_offset,
            self._config.index_interval_bytes,
            self._config.segment_index_bytes,
            now,
        )
        self._segments.append(segment)
        self._bases.append(segment.base_offset)
        self._dir_dirty = True
        self._stats.segments_rolled += 1
        return segment

    def roll(self) -> int:
        self._check_open()
        with self._lock:
            try:
                return self._roll_locked(self._clock()).base_offset
            except OSError as exc:
                raise LogStorageError(f"roll of {self._directory} failed: {exc}") from exc

    # ------------------------------------------------------------------- read

    # read() and read_for_sending() are LogProperties'; large runs leave as file regions.
    _region_min = REGION_MIN_BYTES

    def _fill(
        self,
        result: ReadResult[Any],
        offset: int,
        max_bytes: int,
        limit: int,
        min_one_batch: bool,
        region_min: int,
    ) -> None:
        # The lock only keeps a concurrent flush() away from a segment whose indexes are being
        # loaded (or rebuilt) on first use; uncontended it costs well under a microsecond.
        with self._lock:
            self._fill_locked(result, offset, max_bytes, limit, min_one_batch, region_min)

    def _fill_locked(
        self,
        result: ReadResult[Any],
        offset: int,
        max_bytes: int,
        limit: int,
        min_one_batch: bool,
        region_min: int,
    ) -> None:
        cached = self._tail.read(offset, max_bytes, limit, min_one_batch)
        if cached is not None:
            result.chunks.extend(cached)
            result.size = sum(view.nbytes for view in cached)
            return
        log_end = result.log_end_offset
        segments = self._segments
        index = bisect.bisect_right(self._bases, offset) - 1
        # Where the batches at or beyond `limit` start: nothing from there on is returned.
        stop_index = len(segments) - 1
        stop_position = segments[-1].size
        if limit < log_end:
            stop_index = bisect.bisect_right(self._bases, limit) - 1
            stop_segment = segments[stop_index]
            hit = stop_segment.translate_offset(limit)
            stop_position = hit[0] if hit is not None else stop_segment.size
        remaining = max_bytes
        first = min_one_batch
        chunks = result.chunks
        size = 0
        while index <= stop_index:
            segment = segments[index]
            max_position = stop_position if index == stop_index else segment.size
            if region_min:
                chunk, exhausted = segment.read_for_sending(
                    offset, remaining, max_position, first, region_min
                )
            else:
                chunk, exhausted = segment.read(offset, remaining, max_position, first)
            if chunk is not None:
                chunks.append(chunk)
                size += len(chunk)
                remaining -= len(chunk)
                first = False
            if not exhausted or remaining <= 0:
                break
            index += 1
            if index < len(segments):
                offset = segments[index].base_offset
        result.size = size

    # ------------------------------------------------------------- timestamps

    def offset_for_timestamp(self, timestamp_ms: int) -> TimestampOffset | None:
        self._check_open()
        with self._lock:
            return self._offset_for_timestamp_locked(timestamp_ms)

    def _offset_for_timestamp_locked(self, timestamp_ms: int) -> TimestampOffset | None:
        start = self._log_start_offset
        first = max(bisect.bisect_right(self._bases, start) - 1, 0)
        for segment in self._segments[first:]:
            if segment.max_timestamp < timestamp_ms:
                continue
            hit = segment.find_by_timestamp(timestamp_ms, start)
            if hit is not None:
                position, size, base, max_timestamp = hit
                return first_record_at_or_after(
                    segment.read_bytes(position, size), timestamp_ms, start, base, max_timestamp
                )
        return None

    def max_timestamp(self) -> TimestampOffset | None:
        self._check_open()
        with self._lock:
            return self._max_timestamp_locked()

    def _max_timestamp_locked(self) -> TimestampOffset | None:
        best: LogSegment | None = None
        for segment in self._segments:
            if segment.max_timestamp >= 0 and (
                best is None or segment.max_timestamp > best.max_timestamp
            ):
                best = segment
        if best is None:
            return None
        hit = best.translate_offset(best.offset_of_max_timestamp)
        if hit is None:
            return TimestampOffset(best.max_timestamp, best.offset_of_max_timestamp)
        position, size, base = hit
        return record_with_timestamp(best.read_bytes(position, size), best.max_timestamp, base)

    # ---------------------------------------------------------------- offsets

    def _advance_log_start(self, offset: int) -> None:
        """Move the log start offset up and persist it before any file is deleted."""
        self._log_start_offset = offset
        self._start_checkpoint.write(offset)
        self._epochs.truncate_from_start(offset)

    def _delete_oldest(self, count: int) -> None:
        with self._lock:
            doomed = self._segments[:count]
            del self._segments[:count]
            del self._bases[:count]
            self._dir_dirty = True
        if self._segments[0].base_offset > self._log_start_offset:
            self._advance_log_start(self._segments[0].base_offset)
        for segment in doomed:
            segment.delete()

    # -------------------------------------------------------------- retention

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
            "%s: retention deleted %d segment(s) (%s); log start offset now %d",
            self._directory,
            count,
            "; ".join(reasons),
            self._log_start_offset,
        )
        return count

    # ------------------------------------------------------------- compaction

    def clean(self, now_ms: int) -> CleanResult:
        """See `rafka.log.cleaner`; the hooks it calls are in `rafka.log.disk_cleaning`."""
        if self._closed:
            return CleanResult(False, "the log is closed")
        return clean_log(self, now_ms)

    def update_config(self, config: LogConfig) -> None:
        self._config = config
        with self._lock:
            for segment in self._segments:
                segment.index_interval_bytes = config.index_interval_bytes

    # ------------------------------------------------------------------ flush

    def needs_flush(self, now_ms: int) -> bool:
        if self._closed:
            return False
        unflushed = self._next_offset - self._flushed_offset
        if unflushed <= 0:
            return False
        config = self._config
        if 0 < config.flush_messages <= unflushed:
            return True
        return config.flush_ms > 0 and now_ms - self._last_flush_ms >= config.flush_ms

    def flush(self) -> None:
        with self._flush_lock:
            if self._closed:
                return
            with self._lock:
                target = self._next_offset
                dirty = [segment for segment in self._segments if segment.dirty]
                fds: list[int] = []
                for segment in dirty:
                    fds.extend(segment.prepare_flush())
                dir_dirty, self._dir_dirty = self._dir_dirty, False
            try:
                _sync_and_close(fds)
                if dir_dirty:
                    fsync_dir(self._directory)
            except OSError as exc:
                with self._lock:
                    for segment in dirty:
                        segment.dirty = True
                    self._dir_dirty = self._dir_dirty or dir_dirty
                raise LogStorageError(f"fsync of {self._directory} failed: {exc}") from exc
            self._last_flush_ms = self._clock()
            self._flushed_offset = max(self._flushed_offset, target)
            if target > self._recovery_point:
                self._recovery_point = target
                self._persist_recovery_point(force=False)
            self._stats.flushes += 1

    def _persist_recovery_point(self, force: bool) -> None:
        """Write the recovery point checkpoint (an fsync and a rename) only when it would
        change what a crash recovery scans: recovery rescans the whole segment holding the
        recovery point, so moving it within one segment saves nothing. With flush.messages=1
        that keeps a flush at one fdatasync instead of five."""
        point = self._recovery_point
        if not force:
            bases = self._bases
            if bisect.bisect_right(bases, point) == bisect.bisect_right(
                bases, self._persisted_recovery_point
            ):
                return
        self._recovery_checkpoint.write(point)
        self._persisted_recovery_point = point

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
        with self._flush_lock:
            if offset >= self._next_offset:
                return
            self._truncations += 1
            if offset <= self._log_start_offset or offset <= self._segments[0].base_offset:
                self._truncate_fully(offset)
                return
            with self._lock:
                self._tail.clear()
                keep = bisect.bisect_left(self._bases, offset)
                doomed = self._segments[keep:]
                del self._segments[keep:]
                del self._bases[keep:]
                active = self._segments[-1]
                try:
                    active.truncate_to(offset)
                    fds = active.prepare_flush()
                except OSError as exc:
                    raise LogStorageError(f"truncation of {self._directory} failed: {exc}") from exc
                self._next_offset = active.next_offset
            for segment in doomed:
                segment.delete()
            try:
                _sync_and_close(fds)
                fsync_dir(self._directory)
            except OSError as exc:
                raise LogStorageError(f"fsync of {self._directory} failed: {exc}") from exc
            self._after_truncation()

    def _truncate_fully(self, offset: int) -> None:
        """Empty the log and restart it at `offset` (Kafka's truncateFullyAndStartAt)."""
        # Checkpoints first: a crash after them loads as an empty log at `offset`.
        self._start_checkpoint.write(offset)
        self._recovery_point = offset
        self._persist_recovery_point(force=True)
        with self._lock:
            self._tail.clear()
            for segment in self._segments:
                segment.delete()
            try:
                segment = LogSegment.create(
                    self._directory,
                    offset,
                    self._config.index_interval_bytes,
                    self._config.segment_index_bytes,
                    self._clock(),
                )
            except OSError as exc:
                raise LogStorageError(f"truncation of {self._directory} failed: {exc}") from exc
            self._segments = [segment]
            self._bases = [offset]
            self._next_offset = offset
            self._log_start_offset = offset
        fsync_dir(self._directory)
        self._epochs.clear()
        self._after_truncation()

    def _after_truncation(self) -> None:
        end = self._next_offset
        if self._log_start_offset > end:
            # The batch straddling the old log start went whole: the (empty) log now starts
            # where it ends, as Kafka's min(targetOffset, logStartOffset).
            self._log_start_offset = end
            self._start_checkpoint.write(end)
        self._high_watermark = min(self._high_watermark, end)
        self._flushed_offset = min(self._flushed_offset, end)
        if self._recovery_point > end:
            self._recovery_point = end
        if self._persisted_recovery_point > end:
            self._persist_recovery_point(force=True)
        self._dirty_from(end)
        self._epochs.truncate_from_end(end)

    # ------------------------------------------------------------ close, delete

    def close(self) -> None:
        with self._flush_lock:
            if self._closed:
                return
            self._closed = True
            with self._lock:
                self._segments[-1].on_become_inactive()
                fds: list[int] = []
                for segment in self._segments:
                    if segment.dirty:
                        fds.extend(segment.prepare_flush())
            try:
                _sync_and_close(fds)
                fsync_dir(self._directory)
                self._recovery_point = self._next_offset
                if self._persisted_recovery_point != self._recovery_point:
                    self._persist_recovery_point(force=True)
                self._start_checkpoint.write(self._log_start_offset)
                CleanShutdownMarker(self._directory).write()
            except OSError as exc:
                raise LogStorageError(f"close of {self._directory} failed: {exc}") from exc
            finally:
                for segment in self._segments:
                    segment.close()

    def delete(self) -> None:
        with self._flush_lock:
            self._closed = True
            with self._lock:
                for segment in self._segments:
                    segment.delete()
            shutil.rmtree(self._directory, ignore_errors=True)

    # ------------------------------------------------------------ test support

    def _abandon(self) -> None:
        """Release every file descriptor without flushing or writing anything, as if the
        process had died here (tests simulate crashes with it)."""
        with self._flush_lock:
            self._closed = True
            with self._lock:
                for segment in self._segments:
                    segment.close_without_persisting()
