"""The offset and size bookkeeping both log engines keep in the same fields, exposed once.

`DiskLog` and `MemoryLog` differ in where batches live, not in how they report offsets, sizes
and segments; the read-only half of the PartitionLog interface, the range checks every read
starts with, and the offset moves that only touch that bookkeeping (the high watermark,
DeleteRecords) are therefore written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from rafka.log.api import (
    ByteChunk,
    LogConfig,
    LogStats,
    OffsetOutOfRangeError,
    ReadResult,
    SendChunk,
)


class _Segment(Protocol):
    """What the bookkeeping reads of an engine's segment."""

    @property
    def size(self) -> int: ...

    @property
    def base_offset(self) -> int: ...


class LogProperties:
    """Mixin: subclasses set these fields in `__init__` and keep them current."""

    _log_start_offset: int
    _next_offset: int
    _high_watermark: int
    _segments: Sequence[_Segment]
    _bases: list[int]
    _config: LogConfig
    _stats: LogStats

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._next_offset

    @property
    def high_watermark(self) -> int:
        return self._high_watermark

    @property
    def size_bytes(self) -> int:
        return sum(segment.size for segment in self._segments)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    @property
    def segment_base_offsets(self) -> list[int]:
        return list(self._bases)

    @property
    def config(self) -> LogConfig:
        return self._config

    @property
    def stats(self) -> LogStats:
        return self._stats

    # Runs at least this long come back from read_for_sending() as file regions (0: never;
    # the in-memory engine's batches are already in memory).
    _region_min: int = 0

    def read(
        self,
        offset: int,
        max_bytes: int,
        max_offset: int | None = None,
        min_one_batch: bool = True,
    ) -> ReadResult[ByteChunk]:
        return self._read(offset, max_bytes, max_offset, min_one_batch, 0)

    def read_for_sending(
        self,
        offset: int,
        max_bytes: int,
        max_offset: int | None = None,
        min_one_batch: bool = True,
    ) -> ReadResult[SendChunk]:
        return self._read(offset, max_bytes, max_offset, min_one_batch, self._region_min)

    def _read(
        self,
        offset: int,
        max_bytes: int,
        max_offset: int | None,
        min_one_batch: bool,
        region_min: int,
    ) -> ReadResult[Any]:
        self._check_open()
        result, limit = self._begin_read(offset, max_offset)
        if offset < limit:
            self._fill(result, offset, max_bytes, limit, min_one_batch, region_min)
        return result

    # ---------------------------------------------------------------- offsets

    def set_high_watermark(self, offset: int) -> None:
        self._high_watermark = min(max(offset, self._log_start_offset), self._next_offset)

    def delete_records_before(self, offset: int) -> int:
        self._check_open()
        if offset == -1:
            offset = self._high_watermark
        if offset < 0 or offset > self._high_watermark:
            raise OffsetOutOfRangeError(
                f"cannot delete records before {offset}: high watermark is {self._high_watermark}"
            )
        if offset > self._log_start_offset:
            self._advance_log_start(offset)
            count = 0
            while (
                count < len(self._segments) - 1
                and self._segments[count + 1].base_offset <= self._log_start_offset
            ):
                count += 1
            if count:
                self._delete_oldest(count)
        return self._log_start_offset

    # ------------------------------------------------------------ engine hooks

    def _check_open(self) -> None:
        raise NotImplementedError

    def _advance_log_start(self, offset: int) -> None:
        """Move the log start offset up to `offset` (and record it where the engine keeps it)."""
        raise NotImplementedError

    def _delete_oldest(self, count: int) -> None:
        """Drop the `count` oldest segments, which lie wholly below the log start offset."""
        raise NotImplementedError

    def _fill(
        self,
        result: ReadResult[Any],
        offset: int,
        max_bytes: int,
        limit: int,
        min_one_batch: bool,
        region_min: int,
    ) -> None:
        """The engine's half of a read: whole batches from the one holding `offset` up to
        `limit` (exclusive) within `max_bytes`, into `result.chunks` and `result.size`; runs
        of at least `region_min` bytes (if not 0) may be file regions."""
        raise NotImplementedError

    def _begin_read(self, offset: int, max_offset: int | None) -> tuple[ReadResult[Any], int]:
        """The (still empty) result of a read at `offset` and the offset it must stop before
        (`max_offset` capped at the log end). Raises OffsetOutOfRangeError outside the log."""
        log_end = self._next_offset
        result: ReadResult[Any] = ReadResult(
            log_start_offset=self._log_start_offset,
            high_watermark=self._high_watermark,
            log_end_offset=log_end,
        )
        if offset < self._log_start_offset or offset > log_end:
            raise OffsetOutOfRangeError(
                f"offset {offset} is outside [{self._log_start_offset}, {log_end}]"
            )
        return result, log_end if max_offset is None else min(max_offset, log_end)
