"""The newest batches of a disk log's active segment, kept as they were appended, so a consumer
following the tail is served from memory instead of an index lookup, a `pread` and a header
scan of the segment file.

Measured (one-record batches, hot loop): a tail read through the segment file costs 12.7 us,
through the in-memory engine 2.3 us; at 5,000 one-record messages/s every message is one such
read, on the path whose latency the benchmarks judge.

The cache holds the bytes exactly as written to the file (offsets and leader epoch already
assigned), for a contiguous run of batches ending at the log end, so a read it can answer
returns the same bytes the file would. It holds at most `limit` bytes of small appends (down to
half that after trimming); a larger append, a roll, or a truncation empties it, and reads fall
back to the file.
"""

from __future__ import annotations

import bisect

__all__ = ["TailCache"]


class TailCache:
    __slots__ = ("_appends", "_bases", "_ends", "_lasts", "_limit", "_size", "_start")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.clear()

    def clear(self) -> None:
        # Per batch: base offset, last offset, and end position in a running byte count.
        self._bases: list[int] = []
        self._lasts: list[int] = []
        self._ends: list[int] = []
        # Per append: (running position of its first byte, its bytes).
        self._appends: list[tuple[int, bytes | bytearray]] = []
        self._start = 0  # running position of the first cached byte
        self._size = 0

    def add(self, data: bytes | bytearray, spans: list[tuple[int, int, int, int]]) -> None:
        """Record an append: `data` as written, `spans` its batches' (size, base offset, last
        offset, max timestamp). `data` must never be modified afterwards."""
        if len(data) > self._limit:
            self.clear()
            return
        position = self._start + self._size
        self._appends.append((position, data))
        for size, base, last, _ in spans:
            position += size
            self._bases.append(base)
            self._lasts.append(last)
            self._ends.append(position)
        self._size += len(data)
        if self._size > self._limit:
            self._evict()

    def _evict(self) -> None:
        """Drop whole appends from the front until the cache is down to half its limit (so
        trimming the lists' fronts happens once per half a cache of appends, not each one)."""
        appends = self._appends
        drop = 0
        while self._size > self._limit // 2:
            first_position, first = appends[drop]
            self._size -= len(first)
            self._start = first_position + len(first)
            drop += 1
        del appends[:drop]
        batches = bisect.bisect_right(self._ends, self._start)
        del self._bases[:batches], self._lasts[:batches], self._ends[:batches]

    def read(
        self, offset: int, max_bytes: int, limit: int, min_one_batch: bool
    ) -> list[memoryview] | None:
        """Whole batches from the one holding `offset`, as a segment read returns them (at most
        `max_bytes`, or one batch of any size if `min_one_batch`; none whose last offset is at
        or beyond `limit`). None if the cache does not reach back to `offset`."""
        bases = self._bases
        if not bases or offset < bases[0]:
            return None
        lasts, ends = self._lasts, self._ends
        first = bisect.bisect_left(lasts, offset)
        stop = bisect.bisect_left(lasts, limit, first)
        if first >= stop:
            return []
        start = ends[first - 1] if first else self._start
        if ends[first] - start > max_bytes:
            if not min_one_batch:
                return []
            stop = first + 1
        else:
            stop = min(stop, bisect.bisect_right(ends, start + max_bytes, first, stop))
        end = ends[stop - 1]
        chunks: list[memoryview] = []
        appends = self._appends
        i = bisect.bisect_right(appends, start, key=_position) - 1
        while start < end:
            position, data = appends[i]
            upto = min(end, position + len(data))
            chunks.append(memoryview(data)[start - position : upto - position])
            start = upto
            i += 1
        return chunks


def _position(entry: tuple[int, bytes | bytearray]) -> int:
    return entry[0]
