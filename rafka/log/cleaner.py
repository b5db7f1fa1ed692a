"""The log cleaner (Kafka's LogCleaner): compaction of one disk log, one pass at a time.

A pass, for a log whose cleanup.policy includes "compact":

1. *What may be cleaned*: the closed segments wholly below the high watermark (never the
   active segment), from the one holding the log start offset, up to the first segment still
   younger than min.compaction.lag.ms. Those from the first dirty offset on (the cleaner
   checkpoint; everything when there is none) are *dirty*, the rest *clean*: each key appears
   at most once in the clean part.
2. *Whether to clean*: dirty bytes / cleanable bytes >= min.cleanable.dirty.ratio, or the
   earliest delete horizon of a kept tombstone has passed (so tombstones do go once
   delete.retention.ms is over, even when nothing new is written).
3. *Offset map*: read the dirty segments' records, key -> latest offset (`compaction.py`),
   whole segments at a time, stopping after the segment that brings the map to
   `max_map_keys` (Kafka's dedupe buffer: the rest stays dirty for the next pass).
4. *Clean*: from the first cleanable segment to the end of the map, in groups of consecutive
   segments whose survivors fit in one (segment.bytes, int32 relative offsets, index room):
   every batch through `clean_batch`, the survivors appended to `<base>.log.cleaned`
   (indexes built as they go), fsynced, then swapped in (`swap.py`) under the log's locks.
5. Move the first dirty offset to the end of the map (checkpointed) and count what was removed.

Threads: a pass runs in a worker thread while the event loop appends and reads. It reads
the old segments through duplicated file descriptors, so retention deleting one meanwhile
cannot pull a file from under it; the swap re-checks, under the log's lock, that its segments
are still the log's, and gives up the pass (deleting its `.cleaned` files) if retention,
truncation or a close got there first. Readers copy bytes out under that same lock, so an old
segment can be closed the moment it is swapped out (as retention does; file.delete.delay.ms
has nothing to wait for).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rafka.log.api import CleanResult, LogClosedError, LogConfig, LogStorageError
from rafka.log.compaction import OffsetMap, clean_batch
from rafka.log.segment import MAX_RELATIVE_OFFSET, LogSegment
from rafka.log.swap import CLEANED_SUFFIX, Fault, SimulatedCrash, discard, no_fault
from rafka.records import BatchHeader, parse_header
from rafka.records.batch import BATCH_HEADER_SIZE, LOG_OVERHEAD

if TYPE_CHECKING:
    from rafka.log.disk import DiskLog

logger = logging.getLogger("rafka.log")

# Keys in one pass's offset map. A Python dict holds one in roughly 100 bytes plus the key,
# so this bounds a pass to some tens of MiB on the keys of consumer offsets and the like.
MAX_MAP_KEYS = 500_000
_READ_CHUNK = 4 * 1024 * 1024
_WRITE_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """A closed segment as the cleaner sees it; `end` is the next segment's base offset."""

    segment: LogSegment
    base_offset: int
    end: int
    size: int
    largest_timestamp_ms: int
    last_modified_ms: int


@dataclass(frozen=True, slots=True)
class CleanerView:
    """What the log tells the cleaner, taken under its lock."""

    directory: Path
    config: LogConfig
    segments: list[SegmentInfo]
    first_dirty: int
    horizon_ms: int
    generation: int


def clean_log(
    log: DiskLog,
    now_ms: int,
    *,
    fault: Fault = no_fault,
    max_map_keys: int = MAX_MAP_KEYS,
) -> CleanResult:
    """One cleaner pass over `log` (see the module docstring)."""
    view = log.cleaner_view()
    if view is None:
        return CleanResult(False, "the log is closed")
    config = view.config
    if not config.compacts:
        return CleanResult(False, "cleanup.policy does not compact")
    cleanable = _cleanable(view.segments, config, now_ms)
    if not cleanable:
        return CleanResult(False, "no closed segment to clean", first_dirty_offset=view.first_dirty)
    first_dirty = max(view.first_dirty, cleanable[0].base_offset)
    dirty_index = next(
        (i for i, info in enumerate(cleanable) if info.end > first_dirty), len(cleanable)
    )
    total = sum(info.size for info in cleanable)
    dirty = sum(info.size for info in cleanable[dirty_index:])
    ratio = dirty / total if total else 0.0
    horizon_due = 0 <= view.horizon_ms <= now_ms
    if not (dirty and ratio >= config.min_cleanable_dirty_ratio) and not horizon_due:
        return CleanResult(
            False,
            f"dirty ratio {ratio:.2f} below min.cleanable.dirty.ratio "
            f"{config.min_cleanable_dirty_ratio}",
            first_dirty_offset=first_dirty,
        )
    fds = log.open_for_cleaning([info.segment for info in cleanable])
    if fds is None:
        return CleanResult(False, "the segments changed", first_dirty_offset=first_dirty)
    try:
        return _clean(log, view, cleanable, fds, dirty_index, now_ms, fault, max_map_keys)
    except (LogClosedError, OSError) as exc:
        if not log.closed:
            raise LogStorageError(f"log cleaner on {view.directory} failed: {exc}") from exc
        # Closed or deleted meanwhile (broker shutdown, topic deletion): nothing to finish;
        # the pass's `.cleaned` files are gone with it or deleted at the next load.
        return CleanResult(False, "the log was closed during the pass")
    finally:
        for fd in fds:
            os.close(fd)


def _cleanable(
    segments: Sequence[SegmentInfo], config: LogConfig, now_ms: int
) -> list[SegmentInfo]:
    """The prefix of `segments` old enough for min.compaction.lag.ms (all when it is 0, as
    Kafka only applies the lag when it is set)."""
    if config.min_compaction_lag_ms <= 0:
        return list(segments)
    cleanable: list[SegmentInfo] = []
    for info in segments:
        if now_ms - info.largest_timestamp_ms < config.min_compaction_lag_ms:
            break
        cleanable.append(info)
    return cleanable


def _clean(
    log: DiskLog,
    view: CleanerView,
    cleanable: list[SegmentInfo],
    fds: list[int],
    dirty_index: int,
    now_ms: int,
    fault: Fault,
    max_map_keys: int,
) -> CleanResult:
    closed = _closed_check(log)
    offset_map = OffsetMap()
    end_index = len(cleanable)
    for i in range(dirty_index, len(cleanable)):
        for data, header in _batches(fds[i], cleanable[i].size, closed):
            offset_map.add(data, header)
        end_index = i + 1
        if len(offset_map) >= max_map_keys:
            break
    to_clean = cleanable[:end_index]
    bytes_before = sum(info.size for info in to_clean)
    bytes_after = 0
    removed = 0
    horizon = -1
    groups = 0
    start = 0
    while start < len(to_clean):
        base = to_clean[start].base_offset
        count, written = _write_group(view, to_clean, fds, start, offset_map, now_ms, closed, fault)
        group = [info.segment for info in to_clean[start : start + count]]
        start += count
        groups += 1
        fault("cleaned-written")
        if not log.replace_segments(view.generation, group, base, fault):
            discard(view.directory, base, CLEANED_SUFFIX)
            return CleanResult(
                False, "the log changed during the pass", first_dirty_offset=view.first_dirty
            )
        bytes_after += written.size
        removed += written.records_removed
        if written.horizon_ms >= 0 and (horizon < 0 or written.horizon_ms < horizon):
            horizon = written.horizon_ms
    first_dirty = to_clean[-1].end
    if not log.finish_cleaning(view.generation, first_dirty, horizon):
        return CleanResult(
            False, "the log changed during the pass", first_dirty_offset=view.first_dirty
        )
    stats = log.stats
    stats.cleaner_passes += 1
    stats.bytes_cleaned += bytes_before
    stats.bytes_removed_by_cleaner += bytes_before - bytes_after
    stats.records_removed_by_cleaner += removed
    logger.info(
        "%s: cleaned %d segment(s) into %d, %d -> %d bytes, %d record(s) removed; "
        "clean up to offset %d",
        view.directory,
        len(to_clean),
        groups,
        bytes_before,
        bytes_after,
        removed,
        first_dirty,
    )
    return CleanResult(
        True,
        "",
        segments_before=len(to_clean),
        segments_after=groups,
        bytes_before=bytes_before,
        bytes_after=bytes_after,
        records_removed=removed,
        first_dirty_offset=first_dirty,
    )


def _closed_check(log: DiskLog) -> Callable[[], None]:
    def check() -> None:
        if log.closed:
            raise LogClosedError("the log was closed during a cleaner pass")

    return check


def _fits(config: LogConfig, base_offset: int, size: int, end: int) -> bool:
    """Whether one segment starting at `base_offset` can hold `size` bytes of batches with
    offsets below `end`: segment.bytes, offsets within int32 of the base, and room in the
    sparse index (Kafka's groupSegmentsBySize checks the same three)."""
    max_entries = max(1, config.segment_index_bytes // 8)
    return (
        size <= config.segment_bytes
        and end - 1 - base_offset <= MAX_RELATIVE_OFFSET
        and size // max(1, config.index_interval_bytes) + 1 <= max_entries
    )


@dataclass(slots=True)
class _Written:
    size: int = 0
    records_removed: int = 0
    horizon_ms: int = -1


def _write_group(
    view: CleanerView,
    segments: list[SegmentInfo],
    fds: list[int],
    start: int,
    offset_map: OffsetMap,
    now_ms: int,
    closed: Callable[[], None],
    fault: Fault,
) -> tuple[int, _Written]:
    """Clean `segments[start:]` into one `<base>.log.cleaned` (+ indexes), fsynced, taking
    segments while the survivors so far plus the next segment's whole size still fit in one
    segment. Kafka picks its groups from the old sizes up front; deciding on the cleaned
    size merges the many small segments a compacted log leaves behind in the same pass.
    Returns (segments consumed, what was written)."""
    config = view.config
    base = segments[start].base_offset
    out = LogSegment.create(
        view.directory,
        base,
        config.index_interval_bytes,
        config.segment_index_bytes,
        now_ms,
        suffix=CLEANED_SUFFIX,
    )
    written = _Written()
    count = 0
    try:
        pending = bytearray()
        spans: list[tuple[int, int, int, int]] = []
        for info, fd in zip(segments[start:], fds[start:], strict=True):
            if count and not _fits(config, base, out.size + len(pending) + info.size, info.end):
                break
            count += 1
            for data, header in _batches(fd, info.size, closed):
                result = clean_batch(data, header, offset_map, now_ms, config.delete_retention_ms)
                written.records_removed += result.records_removed
                if result.data is None:
                    continue
                kept = header if result.data is data else parse_header(result.data)
                if result.horizon_ms >= 0 and (
                    written.horizon_ms < 0 or result.horizon_ms < written.horizon_ms
                ):
                    written.horizon_ms = result.horizon_ms
                spans.append(
                    (len(result.data), kept.base_offset, kept.last_offset, kept.max_timestamp)
                )
                pending += result.data
                if len(pending) >= _WRITE_CHUNK:
                    out.append([pending], spans, now_ms)
                    pending, spans = bytearray(), []
        if pending:
            out.append([pending], spans, now_ms)
        fault("cleaned-unsynced")
        written.size = out.size
        out.on_become_inactive()
        # Retention by time falls back on the file's age when batches carry no timestamp;
        # the cleaned file keeps the newest of the old files' ages (Kafka does the same).
        newest = max(info.last_modified_ms for info in segments[start : start + count])
        os.utime(out.log_path, ns=(newest * 1_000_000, newest * 1_000_000))
        for sync_fd in out.prepare_flush():
            try:
                os.fsync(sync_fd)
            finally:
                os.close(sync_fd)
    except SimulatedCrash:
        out.close_without_persisting()
        raise
    except BaseException:
        out.close()
        discard(view.directory, base, CLEANED_SUFFIX)
        raise
    out.close()
    return count, written


def _batches(
    fd: int, size: int, closed: Callable[[], None]
) -> Iterator[tuple[memoryview, BatchHeader]]:
    """Every whole batch in the first `size` bytes of a segment file, read in large chunks."""
    position = 0
    while position < size:
        closed()
        chunk = os.pread(fd, min(_READ_CHUNK, size - position), position)
        view = memoryview(chunk)
        at = 0
        while len(chunk) - at >= BATCH_HEADER_SIZE:
            header = parse_header(view, at)
            batch_size = header.batch_length + LOG_OVERHEAD
            if at + batch_size > len(chunk):
                if at == 0:
                    # One batch larger than a chunk: read exactly that batch.
                    chunk = os.pread(fd, batch_size, position)
                    if len(chunk) < batch_size:
                        raise OSError(f"segment file shorter than its size ({size} bytes)")
                    view = memoryview(chunk)
                    continue
                break
            yield view[at : at + batch_size], header
            at += batch_size
        if at == 0:
            raise OSError(f"no whole batch at byte {position} of a {size}-byte segment")
        position += at
