"""One segment of a partition log (Kafka's LogSegment): `<base offset>.log` and its sparse
`.index` and `.timeindex`, named by the base offset zero-padded to 20 digits.

The `.log` file is the batches, back to back, exactly as the log wrote them. A segment appends
with one `os.write`, reads with `os.pread` (so reads never move a file position and never see
a partial append), and knows its batch boundaries only through the offset index and the
61-byte batch headers: nothing here ever looks at a record.

Three ways to open an existing segment, from cheapest to most thorough:
- `check_tail()`: trust the indexes' last entries, read the batch headers after the last
  indexed batch and check they end exactly at the end of the file (clean shutdowns, and
  segments before the recovery point);
- lazily loading the full indexes on first use, with a sanity check;
- `recover()`: read every batch, check its length, magic, CRC32C and offsets, rebuild both
  indexes, and cut the file at the first bad batch (after an unclean shutdown, or whenever a
  cheaper check fails).

Not thread-safe: the owning log serialises calls with its lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

from rafka.log.index_file import IndexCorruptError
from rafka.log.offset_index import ENTRY_SIZE as OFFSET_ENTRY_SIZE
from rafka.log.offset_index import OffsetIndex
from rafka.log.region import FileRegion
from rafka.log.time_index import ENTRY_SIZE as TIME_ENTRY_SIZE
from rafka.log.time_index import NO_TIMESTAMP, TimeIndex
from rafka.records.batch import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    BatchError,
    check_stored_batch,
)

logger = logging.getLogger("rafka.log")

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"

# Offsets inside a segment are stored relative to its base offset as int32.
MAX_RELATIVE_OFFSET = 2**31 - 1

# baseOffset, batchLength, (skip to) lastOffsetDelta, (skip baseTimestamp) maxTimestamp: all a
# scan over batch headers needs, in one unpack.
_SCAN = struct.Struct(">qi11xi8xq")
_SCAN_SIZE = _SCAN.size  # 43
_LENGTH = struct.Struct(">i")
_MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD

# Header scans read this much at a time; once a window turns out to hold a single header
# (large batches), they drop to reading just the next header.
_SCAN_WINDOW = 64 * 1024
# A read never asks for less than this (enough for the header of the batch it starts with).
_MIN_READ = 4096
# Recovery reads this much at a time (more if one batch is larger).
_RECOVERY_CHUNK = 8 * 1024 * 1024


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}"


def parse_segment_name(name: str) -> int | None:
    """The base offset of a `.log` file name, or None if it is not one of ours."""
    if not name.endswith(LOG_SUFFIX):
        return None
    stem = name[: -len(LOG_SUFFIX)]
    if len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem)


def _write_all(fd: int, pieces: Sequence[bytes | bytearray | memoryview]) -> None:
    """Write `pieces` in order, in one `writev` unless the kernel takes less."""
    if len(pieces) == 1:  # a copied append, the usual case: one plain write
        piece = pieces[0]
        written = os.write(fd, piece)
        size = piece.nbytes if isinstance(piece, memoryview) else len(piece)
        if written == size:
            return
        pieces = [memoryview(piece)[written:]]
    views = [memoryview(piece) for piece in pieces]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if written:
            views[0] = views[0][written:]


class LogSegment:
    def __init__(
        self,
        directory: Path,
        base_offset: int,
        fd: int,
        size: int,
        index_interval_bytes: int,
        index_max_bytes: int,
        suffix: str = "",
    ) -> None:
        # `suffix` names the files of a segment being built beside the live ones (the log
        # cleaner writes `<base>.log.cleaned` and its indexes that way, rafka.log.swap).
        name = segment_name(base_offset)
        self.base_offset = base_offset
        self.log_path = directory / (name + LOG_SUFFIX + suffix)
        self._fd = fd
        # Bytes of whole batches in the file (appends only ever add whole batches).
        self.size = size
        # The offset after the last batch (base_offset while empty).
        self.next_offset = base_offset
        self.max_timestamp = NO_TIMESTAMP
        # Base offset of the first batch that reached max_timestamp.
        self.offset_of_max_timestamp = base_offset
        # Clock time of the last append (file mtime for segments loaded from disk): the age
        # retention falls back on when no batch carries a timestamp.
        self.last_modified_ms = 0
        self.index_interval_bytes = index_interval_bytes
        self._rolling_base_ms: int | None = None
        self._bytes_since_index = 0
        self._offset_index = OffsetIndex(
            directory / (name + INDEX_SUFFIX + suffix),
            base_offset,
            index_max_bytes // OFFSET_ENTRY_SIZE,
        )
        self._time_index = TimeIndex(
            directory / (name + TIME_INDEX_SUFFIX + suffix),
            base_offset,
            index_max_bytes // TIME_ENTRY_SIZE,
        )
        self._indexes_loaded = False
        # Something (bytes, index entries, a truncation) is not yet fsynced.
        self.dirty = False

    def __repr__(self) -> str:
        return f"LogSegment({self.log_path.name}, size={self.size}, next={self.next_offset})"

    # ---------------------------------------------------------------- opening

    @classmethod
    def create(
        cls,
        directory: Path,
        base_offset: int,
        index_interval_bytes: int,
        index_max_bytes: int,
        now_ms: int,
        suffix: str = "",
    ) -> LogSegment:
        """A new, empty segment (any leftover files of the same name are emptied)."""
        path = directory / (segment_name(base_offset) + LOG_SUFFIX + suffix)
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(path, flags, 0o644)
        segment = cls(directory, base_offset, fd, 0, index_interval_bytes, index_max_bytes, suffix)
        segment._offset_index.reset()
        segment._time_index.reset()
        segment._indexes_loaded = True
        segment.last_modified_ms = now_ms
        segment.dirty = True
        return segment

    @classmethod
    def open(
        cls, directory: Path, base_offset: int, index_interval_bytes: int, index_max_bytes: int
    ) -> LogSegment:
        """An existing segment, not yet checked (call `check_tail()` or `recover()`)."""
        path = directory / (segment_name(base_offset) + LOG_SUFFIX)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        stat = os.fstat(fd)
        segment = cls(
            directory, base_offset, fd, stat.st_size, index_interval_bytes, index_max_bytes
        )
        segment.last_modified_ms = stat.st_mtime_ns // 1_000_000
        return segment

    def check_tail(self) -> bool:
        """Cheap load for a segment believed intact: take the last entry of each index from
        the files, read the batch headers after the last indexed batch, and require that they
        end exactly at the end of the file. Sets next_offset and max_timestamp. False if
        anything is off (the caller then runs `recover()`)."""
        try:
            index_offset, position = self._peek_offset_index()
            timestamp, timestamp_offset = self._time_index.peek_last_entry(
                self.base_offset + MAX_RELATIVE_OFFSET + 1
            )
        except (IndexCorruptError, OSError) as exc:
            logger.warning("%s: index unusable (%s)", self.log_path, exc)
            return False
        max_timestamp, offset_of_max = timestamp, timestamp_offset
        next_offset = self.base_offset
        end = position
        first = True
        for batch_position, size, base, last, batch_max in self._scan(position, self.size):
            if first and position > 0 and last != index_offset:
                logger.warning("%s: offset index disagrees with the log", self.log_path)
                return False
            first = False
            if batch_max > max_timestamp:
                max_timestamp, offset_of_max = batch_max, base
            next_offset = last + 1
            end = batch_position + size
        if end != self.size or (position > 0 and first):
            logger.warning("%s: batches end at byte %d of %d", self.log_path, end, self.size)
            return False
        if timestamp >= 0 and timestamp_offset >= next_offset:
            logger.warning("%s: time index points past the log", self.log_path)
            return False
        self.next_offset = next_offset
        self.max_timestamp = max_timestamp
        self.offset_of_max_timestamp = offset_of_max
        return True

    def _peek_offset_index(self) -> tuple[int, int]:
        path = self._offset_index.path
        size = path.stat().st_size
        if size % OFFSET_ENTRY_SIZE:
            raise IndexCorruptError(f"{path}: size {size} is not a multiple of 8")
        if size == 0:
            return self.base_offset, 0
        with path.open("rb") as file:
            file.seek(size - OFFSET_ENTRY_SIZE)
            relative, position = struct.unpack(">ii", file.read(OFFSET_ENTRY_SIZE))
        if relative < 0 or position < 0 or position >= self.size:
            raise IndexCorruptError(f"{path}: last entry ({relative}, {position}) is invalid")
        return self.base_offset + relative, position

    def _ensure_indexes(self) -> None:
        """Load both indexes in full on first use; rebuild them from the log if they fail
        their sanity checks."""
        if self._indexes_loaded:
            return
        try:
            self._offset_index.load(self.size, self.next_offset)
            self._time_index.load(self.next_offset)
        except (IndexCorruptError, OSError) as exc:
            logger.warning("%s: rebuilding indexes (%s)", self.log_path, exc)
            self.recover()
            return
        self._indexes_loaded = True

    @property
    def indexes_full(self) -> bool:
        """Whether either index is out of room (the segment must roll before more appends)."""
        if not self._indexes_loaded:
            self._ensure_indexes()
        return self._offset_index.is_full or self._time_index.is_full

    @property
    def offset_index(self) -> OffsetIndex:
        self._ensure_indexes()
        return self._offset_index

    @property
    def time_index(self) -> TimeIndex:
        self._ensure_indexes()
        return self._time_index

    # --------------------------------------------------------------- recovery

    def recover(self, epoch_floor: int = 0) -> tuple[int, list[tuple[int, int]]]:
        """Check every batch (length, magic, CRC32C, offsets increasing and within int32 of
        the base offset), rebuild both indexes, and cut the file at the first bad byte.

        Returns (bytes truncated, [(leader epoch, base offset of its first batch)]) for the
        batches holding offsets at or above `epoch_floor` (the log start offset: epochs wholly
        below it are history the epoch cache has already dropped).
        """
        self._offset_index.reset()
        self._time_index.reset()
        file_size = os.fstat(self._fd).st_size
        position = 0
        expected = self.base_offset
        max_timestamp = NO_TIMESTAMP
        offset_of_max = self.base_offset
        since_index = 0
        interval = self.index_interval_bytes
        epochs: list[tuple[int, int]] = []
        reason = ""
        buf = b""
        buf_start = 0
        while True:
            if position + BATCH_HEADER_SIZE > file_size:
                if position < file_size:
                    reason = f"{file_size - position} bytes cannot hold a batch header"
                break
            at = position - buf_start
            if at + BATCH_HEADER_SIZE > len(buf):
                buf = os.pread(self._fd, min(_RECOVERY_CHUNK, file_size - position), position)
                buf_start, at = position, 0
            (length,) = _LENGTH.unpack_from(buf, at + 8)
            size = length + LOG_OVERHEAD
            if length < _MIN_BATCH_LENGTH or position + size > file_size:
                reason = f"batch length {length} at byte {position} overruns the file"
                break
            if at + size > len(buf):
                want = min(max(_RECOVERY_CHUNK, size), file_size - position)
                buf = os.pread(self._fd, want, position)
                buf_start, at = position, 0
            try:
                header = check_stored_batch(buf, at)
            except BatchError as exc:
                reason = f"{exc} (byte {position})"
                break
            last = header.base_offset + header.last_offset_delta
            if header.base_offset < expected or last - self.base_offset > MAX_RELATIVE_OFFSET:
                reason = f"batch offset {header.base_offset} out of order (expected >= {expected})"
                break
            if header.max_timestamp > max_timestamp:
                max_timestamp, offset_of_max = header.max_timestamp, header.base_offset
            if since_index > interval:
                self._offset_index.append(last, position, size)
                self._time_index.maybe_append(max_timestamp, offset_of_max)
                since_index = 0
            since_index += size
            epoch = header.partition_leader_epoch
            if epoch >= 0 and last >= epoch_floor and (not epochs or epochs[-1][0] != epoch):
                epochs.append((epoch, header.base_offset))
            expected = last + 1
            position += size
        truncated = file_size - position
        if truncated:
            logger.warning(
                "%s: truncating %d bytes at byte %d: %s", self.log_path, truncated, position, reason
            )
            os.ftruncate(self._fd, position)
        self.size = position
        self.next_offset = expected
        self.max_timestamp = max_timestamp
        self.offset_of_max_timestamp = offset_of_max
        self._bytes_since_index = since_index
        self._rolling_base_ms = None
        self._indexes_loaded = True
        self._offset_index.persist()
        self._time_index.persist()
        self.dirty = True
        return truncated, epochs

    # ----------------------------------------------------------------- append

    def append(
        self,
        pieces: Sequence[bytes | bytearray | memoryview],
        spans: list[tuple[int, int, int, int]],
        now_ms: int,
    ) -> None:
        """Append whole batches, the concatenation of `pieces`, with one write. `spans`
        describes the batches in order: (size, base offset, last offset, max timestamp)."""
        if not self._indexes_loaded:
            self._ensure_indexes()
        position = self.size
        try:
            _write_all(self._fd, pieces)
        except OSError:
            # Take back a partial write so the file still ends on a batch boundary.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, position)
            raise
        offset_index = self._offset_index
        time_index = self._time_index
        interval = self.index_interval_bytes
        since_index = self._bytes_since_index
        max_timestamp = self.max_timestamp
        last = self.next_offset - 1
        for size, base, last, batch_max in spans:
            if batch_max > max_timestamp:
                max_timestamp = batch_max
                self.offset_of_max_timestamp = base
            if since_index > interval:
                offset_index.append(last, position, size)
                time_index.maybe_append(max_timestamp, self.offset_of_max_timestamp)
                since_index = 0
            since_index += size
            position += size
        self._bytes_since_index = since_index
        self.max_timestamp = max_timestamp
        self.size = position
        self.next_offset = last + 1
        self.last_modified_ms = now_ms
        if self._rolling_base_ms is None:
            self._rolling_base_ms = now_ms
        self.dirty = True

    def rolling_base_ms(self, now_ms: int) -> int:
        """When this segment's age (for segment.ms) started: the clock at its first append, or
        for a segment loaded from disk its first batch's timestamp (as Kafka uses), capped at
        now. An empty segment has no age."""
        if self.size == 0:
            return now_ms
        if self._rolling_base_ms is None:
            header = os.pread(self._fd, _SCAN_SIZE, 0)
            first = _SCAN.unpack_from(header)[3] if len(header) == _SCAN_SIZE else NO_TIMESTAMP
            self._rolling_base_ms = first if 0 <= first <= now_ms else now_ms
        return self._rolling_base_ms

    @property
    def largest_timestamp_ms(self) -> int:
        """What retention.ms compares with: the largest batch timestamp, or if no batch has
        one, the time of the last append (Kafka's LogSegment.largestTimestamp)."""
        return self.max_timestamp if self.max_timestamp >= 0 else self.last_modified_ms

    def on_become_inactive(self) -> None:
        """Record the final largest timestamp in the time index (roll, close). A segment whose
        indexes were never loaded has not changed since it was checked at load."""
        if self._indexes_loaded and self.max_timestamp >= 0:
            self._time_index.maybe_append(
                self.max_timestamp, self.offset_of_max_timestamp, skip_full_check=True
            )
            self._time_index.persist()
            self.dirty = True

    # ------------------------------------------------------------------- reads

    def _scan(
        self, start: int, end: int, window: int = _SCAN_WINDOW
    ) -> Iterator[tuple[int, int, int, int, int]]:
        """(position, size, base offset, last offset, max timestamp) of each batch from byte
        `start` (a batch boundary) until `end`, reading headers in windows of `window` bytes."""
        fd = self._fd
        position = start
        buf = b""
        buf_start = start
        headers_in_window = 2
        while position + BATCH_HEADER_SIZE <= end:
            at = position - buf_start
            if at + _SCAN_SIZE > len(buf):
                if headers_in_window < 2:
                    window = _SCAN_SIZE
                buf = os.pread(fd, min(window, end - position), position)
                buf_start, at = position, 0
                headers_in_window = 0
                if len(buf) < _SCAN_SIZE:
                    return
            headers_in_window += 1
            base, length, delta, max_timestamp = _SCAN.unpack_from(buf, at)
            size = length + LOG_OVERHEAD
            if length < _MIN_BATCH_LENGTH or position + size > end:
                return
            yield position, size, base, base + delta, max_timestamp
            position += size

    def translate_offset(self, offset: int) -> tuple[int, int, int] | None:
        """(position, size, base offset) of the first batch whose last offset is >= `offset`,
        or None if there is none in this segment."""
        _, start = self.offset_index.lookup(offset)
        for position, size, base, last, _ in self._scan(start, self.size):
            if last >= offset:
                return position, size, base
        return None

    def read(
        self, offset: int, max_bytes: int, max_position: int, min_one_batch: bool
    ) -> tuple[memoryview | None, bool]:
        """Whole batches from the one containing `offset`, at most `max_bytes` of them (or one
        batch of any size if `min_one_batch`), ending at or before byte `max_position` (a batch
        boundary).

        Returns (bytes or None, exhausted): `exhausted` means everything up to `max_position`
        was returned (or nothing at or after `offset` lies before it), so a reader may go on to
        the next segment. One `pread` in the usual case: it starts at the index entry below
        `offset` and covers the batches up to the limit in a single window.
        """
        end_cap = min(self.size, max_position)
        return self._read_window(
            offset, max_bytes, end_cap, self._indexed_start(offset, end_cap), min_one_batch
        )

    def _read_window(
        self, offset: int, max_bytes: int, end_cap: int, index_position: int, min_one_batch: bool
    ) -> tuple[memoryview | None, bool]:
        if index_position >= end_cap:
            return None, True
        budget = max(max_bytes, 0)
        # Room for the batches between the index entry and `offset`; none when reading from
        # the start of the segment (a read continuing from the previous segment).
        slack = 0 if offset <= self.base_offset else self.index_interval_bytes + _SCAN_WINDOW
        want = max(budget + slack, _MIN_READ)
        fd = self._fd
        window = os.pread(fd, min(end_cap - index_position, want), index_position)
        window_start = index_position
        at = 0
        # Find the first batch whose last offset is >= offset.
        while True:
            if at + _SCAN_SIZE > len(window):
                position = window_start + at
                if position >= end_cap:
                    return None, True
                window = os.pread(fd, min(end_cap - position, want), position)
                window_start, at = position, 0
                if len(window) < _SCAN_SIZE:
                    return None, True
            base, length, delta, _ = _SCAN.unpack_from(window, at)
            size = length + LOG_OVERHEAD
            if base + delta >= offset:
                break
            at += size
        start = window_start + at
        if size > budget:
            if not min_one_batch:
                return None, False
            budget = size
        stop = min(start + budget, end_cap)
        if window_start + len(window) < stop:
            window = os.pread(fd, stop - start, start)
            window_start = start
        if stop == end_cap:
            boundary = stop
        else:
            # The last batch boundary at or below `stop`: jump to an indexed batch near it,
            # then walk the few headers in between.
            boundary = max(self._offset_index.floor_position(stop), start)
            while boundary + BATCH_HEADER_SIZE <= stop:
                (length,) = _LENGTH.unpack_from(window, boundary - window_start + 8)
                if boundary + length + LOG_OVERHEAD > stop:
                    break
                boundary += length + LOG_OVERHEAD
        view = memoryview(window)[start - window_start : boundary - window_start]
        return view, boundary == end_cap

    def _locate(
        self, offset: int, max_bytes: int, end_cap: int, index_position: int, min_one_batch: bool
    ) -> tuple[tuple[int, int, int, int] | None, bool]:
        """Where a read with the same arguments would find its batches (`end_cap` its limit,
        `index_position` from `_indexed_start`), reading only batch headers: ((start, end,
        first base offset, last offset) or None, exhausted). For `read_for_sending`'s file
        regions (`rafka.log.region`)."""
        if index_position >= end_cap:
            return None, True
        # Index entries are about index_interval_bytes apart, so short windows find the first
        # batch and the last boundary without reading the bulk of what is being located.
        window = self.index_interval_bytes + _SCAN_SIZE
        first = next(
            (b for b in self._scan(index_position, end_cap, window) if b[3] >= offset), None
        )
        if first is None:
            return None, True
        start, size, first_base, last, _ = first
        budget = max(max_bytes, 0)
        if size > budget:
            if not min_one_batch:
                return None, False
            budget = size
        stop = min(start + budget, end_cap)
        end, last_offset = start + size, last
        # The last batch that ends at or below `stop`: walk from an indexed batch near it. A
        # walk that finds none there (one batch straddles `stop`) steps back one index entry,
        # so the last offset is always read from a header, never guessed (compacted logs
        # have gaps between batches).
        upto = stop
        floor = max(self._offset_index.floor_position(upto), start)
        while True:
            found = False
            for position, batch_size, _, batch_last, _ in self._scan(floor, upto, window):
                end, last_offset, found = position + batch_size, batch_last, True
            if found or floor <= start:
                break
            upto = floor
            floor = max(self._offset_index.floor_position(floor - 1), start)
        return (start, end, first_base, last_offset), end == end_cap

    def read_for_sending(
        self, offset: int, max_bytes: int, max_position: int, min_one_batch: bool, region_min: int
    ) -> tuple[memoryview | FileRegion | None, bool]:
        """`read()`, except that a run of at least `region_min` bytes comes back as a
        `FileRegion` (found by reading headers only) for a writer that sends it from the file.
        Small reads, such as a consumer following the tail, stay one `pread`."""
        end_cap = min(self.size, max_position)
        index_position = self._indexed_start(offset, end_cap)
        if min(max_bytes, end_cap - index_position) < region_min:
            return self._read_window(offset, max_bytes, end_cap, index_position, min_one_batch)
        span, exhausted = self._locate(offset, max_bytes, end_cap, index_position, min_one_batch)
        if span is None:
            return None, exhausted
        start, end, first_offset, last_offset = span
        if end - start < region_min:
            return memoryview(os.pread(self._fd, end - start, start)), exhausted
        return FileRegion(self.dup_fd(), start, end - start, first_offset, last_offset), exhausted

    def _indexed_start(self, offset: int, end_cap: int) -> int:
        """A batch boundary at or below the batch holding `offset`, from the offset index."""
        indexed_offset, index_position, indexed_size = self.offset_index.lookup_entry(offset)
        if 0 < index_position < end_cap and indexed_offset < offset:
            # The indexed batch ends before `offset` (entries are keyed by last offset): step
            # over it rather than read it, which matters when batches are large.
            if indexed_size < 0:
                (length,) = _LENGTH.unpack(os.pread(self._fd, 4, index_position + 8))
                indexed_size = length + LOG_OVERHEAD
            index_position += indexed_size
        return index_position

    def dup_fd(self) -> int:
        """A duplicate of the `.log` descriptor, readable after this segment is deleted (the
        caller closes it)."""
        return os.dup(self._fd)

    def read_bytes(self, position: int, size: int) -> bytes:
        return os.pread(self._fd, size, position)

    def find_by_timestamp(
        self, timestamp: int, starting_offset: int
    ) -> tuple[int, int, int, int] | None:
        """(position, size, base offset, max timestamp) of the first batch at or after
        `starting_offset` whose max timestamp is >= `timestamp`."""
        _, indexed_offset = self.time_index.lookup(timestamp)
        _, start = self.offset_index.lookup(max(indexed_offset, starting_offset))
        for position, size, base, last, max_timestamp in self._scan(start, self.size):
            if max_timestamp >= timestamp and last >= starting_offset:
                return position, size, base, max_timestamp
        return None

    # ------------------------------------------------------------- truncation

    def truncate_to(self, offset: int) -> int:
        """Drop every batch whose last offset is >= `offset`. Returns the bytes removed."""
        self._ensure_indexes()
        hit = self.translate_offset(offset)
        if hit is None:
            return 0
        position, _, base = hit
        removed = self.size - position
        os.ftruncate(self._fd, position)
        self._offset_index.truncate_to_position(position)
        self._time_index.truncate_to_offset(base)
        self.size = position
        self.next_offset = min(base, offset) if position else self.base_offset
        # Re-derive the largest timestamp: the time index covers everything up to the last
        # indexed batch; read the headers after it.
        max_timestamp, offset_of_max = self._time_index.last_entry
        _, indexed_position = self._offset_index.last_entry
        for _, _, batch_base, _, batch_max in self._scan(indexed_position, self.size):
            if batch_max > max_timestamp:
                max_timestamp, offset_of_max = batch_max, batch_base
        self.max_timestamp = max_timestamp
        self.offset_of_max_timestamp = offset_of_max
        self._bytes_since_index = 0
        if position == 0:
            self._rolling_base_ms = None
        self.dirty = True
        return removed

    # ------------------------------------------------------- flush and close

    def prepare_flush(self) -> list[int]:
        """Write pending index entries and return duplicated descriptors of the files that
        changed (the .log always) for the caller to fsync and close outside the log's lock."""
        fds = [os.dup(self._fd)]
        if self._indexes_loaded:
            for index in (self._offset_index, self._time_index):
                index.persist()
                fd = index.dup_fd_for_sync()
                if fd is not None:
                    fds.append(fd)
        self.dirty = False
        return fds

    def close(self) -> None:
        if self._indexes_loaded:
            self._offset_index.persist()
            self._time_index.persist()
        self._offset_index.close()
        self._time_index.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def close_without_persisting(self) -> None:
        """Release the descriptors and drop unwritten index entries (simulated crash)."""
        self._offset_index.close()
        self._time_index.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def delete(self) -> None:
        """Close and remove the three files (the .log first: an orphan index is deleted at the
        next load, an orphan .log would be served)."""
        self._offset_index.close()
        self._time_index.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            self.log_path.unlink()
        self._offset_index.delete()
        self._time_index.delete()
