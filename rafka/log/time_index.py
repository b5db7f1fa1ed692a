"""The sparse time index of one segment (Kafka's TimeIndex, same file format).

`<base offset>.timeindex` holds 12-byte big-endian entries (timestamp: int64, offset - base
offset: int32). Whenever the segment adds an offset index entry it also offers
(largest timestamp so far, offset of the batch that first reached it); the entry is kept only
if its timestamp is larger than the last one, so timestamps are strictly increasing and
offsets never decrease. When the segment stops being active (roll, close) its final largest
timestamp is appended too, so the last entry is the segment's largest timestamp.

To find the first batch with a timestamp >= T, look up the largest entry with timestamp <= T:
every batch before its offset is older than T (or equal to the entry's, if it equals T), so the
scan starts there. Memory layout and file writes as in `rafka.log.index_file`.
"""

from __future__ import annotations

import bisect
import operator
import struct
from array import array
from pathlib import Path

from rafka.log.index_file import IndexCorruptError, IndexFile

ENTRY_SIZE = 12
_ENTRY = struct.Struct(">qi")
NO_TIMESTAMP = -1


class TimeIndex(IndexFile):
    entry_size = ENTRY_SIZE

    def __init__(self, path: Path, base_offset: int, max_entries: int) -> None:
        super().__init__(path, base_offset, max_entries)
        self._timestamps: array[int] = array("q")
        self._offsets: array[int] = array("q")  # relative to base_offset

    def __len__(self) -> int:
        return len(self._timestamps)

    def _clear_memory(self) -> None:
        self._timestamps = array("q")
        self._offsets = array("q")

    # ------------------------------------------------------------------ reads

    @property
    def last_entry(self) -> tuple[int, int]:
        """(timestamp, offset) of the last entry; (-1, base offset) if there is none."""
        if not self._timestamps:
            return NO_TIMESTAMP, self.base_offset
        return self._timestamps[-1], self.base_offset + self._offsets[-1]

    def lookup(self, timestamp: int) -> tuple[int, int]:
        """(timestamp, offset) of the largest entry with timestamp <= `timestamp`;
        (-1, base offset) if there is none."""
        i = bisect.bisect_right(self._timestamps, timestamp) - 1
        if i < 0:
            return NO_TIMESTAMP, self.base_offset
        return self._timestamps[i], self.base_offset + self._offsets[i]

    # ----------------------------------------------------------------- writes

    def maybe_append(self, timestamp: int, offset: int, skip_full_check: bool = False) -> None:
        if self._timestamps and timestamp <= self._timestamps[-1]:
            return
        if timestamp < 0 or (not skip_full_check and self.is_full):
            return
        relative = offset - self.base_offset
        if self._offsets and relative < self._offsets[-1]:
            raise ValueError(f"time index offset {offset} is below the last entry")
        self._timestamps.append(timestamp)
        self._offsets.append(relative)

    def truncate_to_offset(self, offset: int) -> None:
        """Drop entries pointing at `offset` or later (the log is cut there)."""
        keep = bisect.bisect_left(self._offsets, offset - self.base_offset)
        if keep < len(self._offsets):
            del self._timestamps[keep:]
            del self._offsets[keep:]
        self.truncate_entries(keep)

    # --------------------------------------------------------------- the file

    def _encode(self, start: int, stop: int) -> bytes:
        pack = _ENTRY.pack
        return b"".join(
            pack(timestamp, relative)
            for timestamp, relative in zip(
                self._timestamps[start:stop], self._offsets[start:stop], strict=True
            )
        )

    def load(self, end_offset: int) -> None:
        """Read the file and check it against its segment (offsets below `end_offset`).
        Raises IndexCorruptError (or FileNotFoundError)."""
        data = self.read_file()
        if len(data) % ENTRY_SIZE:
            raise IndexCorruptError(f"{self.path}: size {len(data)} is not a multiple of 12")
        timestamps: array[int] = array("q")
        offsets: array[int] = array("q")
        for timestamp, relative in _ENTRY.iter_unpack(data):
            timestamps.append(timestamp)
            offsets.append(relative)
        if timestamps:
            if offsets[0] < 0 or timestamps[0] < 0:
                raise IndexCorruptError(f"{self.path}: negative first entry")
            if self.base_offset + offsets[-1] >= end_offset:
                raise IndexCorruptError(f"{self.path}: last entry is past offset {end_offset}")
            if not all(map(operator.lt, timestamps[:-1], timestamps[1:])) or not all(
                map(operator.le, offsets[:-1], offsets[1:])
            ):
                raise IndexCorruptError(f"{self.path}: entries are out of order")
        self._timestamps = timestamps
        self._offsets = offsets
        self.loaded(len(timestamps))

    def peek_last_entry(self, end_offset: int) -> tuple[int, int]:
        """The last entry read straight from the file, without loading the rest (to learn an
        old segment's largest timestamp at startup). Raises IndexCorruptError or
        FileNotFoundError."""
        size = self.path.stat().st_size
        if size % ENTRY_SIZE:
            raise IndexCorruptError(f"{self.path}: size {size} is not a multiple of 12")
        if size == 0:
            return NO_TIMESTAMP, self.base_offset
        with self.path.open("rb") as file:
            file.seek(size - ENTRY_SIZE)
            timestamp, relative = _ENTRY.unpack(file.read(ENTRY_SIZE))
        if timestamp < 0 or relative < 0 or self.base_offset + relative >= end_offset:
            raise IndexCorruptError(f"{self.path}: last entry ({timestamp}, {relative}) invalid")
        return timestamp, self.base_offset + relative
