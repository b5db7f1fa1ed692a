"""The disk log's side of compaction: what it shows the log cleaner, and the segment swap.

A mixin of `DiskLog` (as `base.LogProperties` is), so that `disk.py` stays about offsets,
appends, reads, retention and flushes. `rafka.log.cleaner` calls these methods from its
worker thread while the event loop keeps using the log: they take the log's locks, the swap
both of them (`_flush_lock` then `_lock`, the order every other path takes), which makes it
exclusive with flush, truncation, close and delete, and with reads and appends for the few
renames and directory fsyncs it takes.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from rafka.log.api import LogConfig, LogStorageError
from rafka.log.checkpoint import CheckpointError, CleanerCheckpointFile
from rafka.log.cleaner import CleanerView, SegmentInfo
from rafka.log.segment import LogSegment
from rafka.log.swap import CLEANED_SUFFIX, SWAP_SUFFIX, Fault, commit_swap, discard

logger = logging.getLogger("rafka.log")


class CleanerHooks:
    """Subclasses set these fields in `__init__` (DiskLog does) and keep them current."""

    _directory: Path
    _config: LogConfig
    _lock: threading.Lock
    _flush_lock: threading.Lock
    _closed: bool
    _segments: list[LogSegment]
    _bases: list[int]
    _log_start_offset: int
    _next_offset: int
    _high_watermark: int
    _dir_dirty: bool
    # Where the dirty part of the log begins, when the earliest tombstone the cleaner kept
    # may go (-1: none), and a count of truncations (a pass that saw another count gives up).
    _cleaner_checkpoint: CleanerCheckpointFile
    _first_dirty: int
    _clean_horizon: int
    _truncations: int

    @property
    def closed(self) -> bool:
        return self._closed

    def _read_cleaner_checkpoint(self) -> tuple[int, int]:
        try:
            found = self._cleaner_checkpoint.read()
        except CheckpointError as exc:
            logger.warning("ignoring damaged cleaner checkpoint: %s", exc)
            found = None
        if found is None:
            return self._log_start_offset, -1
        first_dirty, horizon = found
        return min(first_dirty, self._next_offset), horizon

    def cleaner_view(self) -> CleanerView | None:
        """The closed segments wholly below the high watermark, from the one holding the log
        start offset, for the cleaner (None once closed)."""
        with self._lock:
            if self._closed:
                return None
            segments = self._segments
            infos: list[SegmentInfo] = []
            for segment, following in itertools.pairwise(segments):
                end = following.base_offset
                if end > self._high_watermark:
                    break
                if end <= self._log_start_offset:
                    continue  # wholly below the log start: retention's to delete
                infos.append(
                    SegmentInfo(
                        segment,
                        segment.base_offset,
                        end,
                        segment.size,
                        segment.largest_timestamp_ms,
                        segment.last_modified_ms,
                    )
                )
            return CleanerView(
                self._directory,
                self._config,
                infos,
                self._first_dirty,
                self._clean_horizon,
                self._truncations,
            )

    def open_for_cleaning(self, segments: Sequence[LogSegment]) -> list[int] | None:
        """Duplicated descriptors of `segments` for the cleaner to read without the lock
        (it closes them); None if one of them is no longer part of the log."""
        with self._lock:
            if self._closed or not all(any(s is t for t in self._segments) for s in segments):
                return None
            return [segment.dup_fd() for segment in segments]

    def replace_segments(
        self, generation: int, old: Sequence[LogSegment], base_offset: int, fault: Fault
    ) -> bool:
        """Swap the cleaner's fsynced `<base_offset>.*.cleaned` files in for `old`, a run of
        consecutive closed segments starting at `base_offset` (`rafka.log.swap`). False, with
        nothing changed, if the log was closed, truncated, or lost one of them meanwhile."""
        directory = self._directory
        with self._flush_lock:
            if self._closed or generation != self._truncations:
                return False
            with self._lock:
                start = next((i for i, s in enumerate(self._segments) if s is old[0]), -1)
                stop = start + len(old)
                if (
                    start < 0
                    or stop >= len(self._segments)
                    or any(a is not b for a, b in zip(self._segments[start:stop], old, strict=True))
                ):
                    return False
                deleted = False

                def delete_old() -> None:
                    nonlocal deleted
                    deleted = True
                    for segment in old:
                        segment.delete()

                config = self._config
                try:
                    commit_swap(directory, base_offset, delete_old, fault)
                    segment = LogSegment.open(
                        directory,
                        base_offset,
                        config.index_interval_bytes,
                        config.segment_index_bytes,
                    )
                    if not segment.check_tail():
                        segment.recover()
                except OSError as exc:
                    if not deleted:
                        discard(directory, base_offset, SWAP_SUFFIX)
                        discard(directory, base_offset, CLEANED_SUFFIX)
                        logger.error("%s: segment swap failed, nothing changed: %s", directory, exc)
                        return False
                    # The old segments are gone and the new one is not open: only a restart
                    # (whose recovery completes the swap) can serve this log again.
                    self._closed = True
                    raise LogStorageError(f"segment swap in {directory} failed: {exc}") from exc
                self._segments[start:stop] = [segment]
                self._bases[start:stop] = [base_offset]
                self._dir_dirty = True
        return True

    def finish_cleaning(self, generation: int, first_dirty: int, horizon_ms: int) -> bool:
        """Record the end of a pass: offsets below `first_dirty` are clean, and the earliest
        kept tombstone may go at `horizon_ms` (-1: none)."""
        with self._flush_lock:
            if self._closed or generation != self._truncations:
                return False
            self._first_dirty = first_dirty
            self._clean_horizon = horizon_ms
            self._cleaner_checkpoint.write(first_dirty, horizon_ms)
        return True

    def _dirty_from(self, end: int) -> None:
        """After a truncation to `end`: new data will be written over what was clean."""
        if self._first_dirty > end:
            self._first_dirty = end
            self._cleaner_checkpoint.write(end, self._clean_horizon)
