"""The sparse offset index of one segment (Kafka's OffsetIndex, same file format).

`<base offset>.index` holds 8-byte big-endian entries (offset - base offset: int32, position
in the .log file: int32). A segment adds one entry for a batch once more than
`index.interval.bytes` were appended since the previous entry, keyed by the batch's *last*
offset as Kafka does. A lookup returns the largest entry at or below an offset; the batch that
holds the offset starts at or after that position, within about one interval of it, and the
segment finds it by reading batch headers from there.

Both columns are strictly increasing. Entries live in two `array('i')` columns so lookups are a
C-level `bisect`; see `rafka.log.index_file` for when they reach the file. A third, memory-only
column remembers each indexed batch's size when it is known (appended or recovered in this
process, -1 when loaded from the file), so a read can step over the indexed batch without
reading its header.
"""

from __future__ import annotations

import bisect
import operator
import sys
from array import array
from pathlib import Path

from rafka.log.index_file import IndexCorruptError, IndexFile

ENTRY_SIZE = 8
assert array("i").itemsize == 4, "offset index needs a 4-byte C int"


def _strictly_increasing(values: array[int]) -> bool:
    return all(map(operator.lt, values[:-1], values[1:]))


class OffsetIndex(IndexFile):
    entry_size = ENTRY_SIZE

    def __init__(self, path: Path, base_offset: int, max_entries: int) -> None:
        super().__init__(path, base_offset, max_entries)
        self._offsets: array[int] = array("i")  # relative to base_offset
        self._positions: array[int] = array("i")
        self._sizes: array[int] = array("i")  # memory only; -1 when unknown

    def __len__(self) -> int:
        return len(self._offsets)

    def _clear_memory(self) -> None:
        self._offsets = array("i")
        self._positions = array("i")
        self._sizes = array("i")

    # ------------------------------------------------------------------ reads

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the largest entry at or below `offset`; (base, 0) if none."""
        i = bisect.bisect_right(self._offsets, offset - self.base_offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.base_offset + self._offsets[i], self._positions[i]

    def lookup_entry(self, offset: int) -> tuple[int, int, int]:
        """`lookup()` plus the indexed batch's size (-1 if unknown or if there is no entry)."""
        i = bisect.bisect_right(self._offsets, offset - self.base_offset) - 1
        if i < 0:
            return self.base_offset, 0, -1
        return self.base_offset + self._offsets[i], self._positions[i], self._sizes[i]

    def floor_position(self, position: int) -> int:
        """The largest indexed batch position at or below `position` (0 if none): a known batch
        boundary to start walking headers from."""
        i = bisect.bisect_right(self._positions, position) - 1
        return self._positions[i] if i >= 0 else 0

    @property
    def last_entry(self) -> tuple[int, int]:
        if not self._offsets:
            return self.base_offset, 0
        return self.base_offset + self._offsets[-1], self._positions[-1]

    # ----------------------------------------------------------------- writes

    def append(self, offset: int, position: int, size: int = -1) -> None:
        relative = offset - self.base_offset
        if self._offsets and (relative <= self._offsets[-1] or position <= self._positions[-1]):
            raise ValueError(
                f"index entry ({offset}, {position}) is not above the last entry {self.last_entry}"
            )
        self._offsets.append(relative)
        self._positions.append(position)
        self._sizes.append(size)

    def truncate_to_position(self, position: int) -> None:
        """Drop entries for batches at or after `position` (the log is cut there)."""
        keep = bisect.bisect_left(self._positions, position)
        if keep < len(self._offsets):
            del self._offsets[keep:]
            del self._positions[keep:]
            del self._sizes[keep:]
        self.truncate_entries(keep)

    # --------------------------------------------------------------- the file

    def _encode(self, start: int, stop: int) -> bytes:
        out: array[int] = array("i", bytes(8 * (stop - start)))
        out[0::2] = self._offsets[start:stop]
        out[1::2] = self._positions[start:stop]
        if sys.byteorder == "little":
            out.byteswap()
        return out.tobytes()

    def load(self, log_size: int, end_offset: int) -> None:
        """Read the file and check it against its segment: `log_size` bytes holding offsets
        below `end_offset`. Raises IndexCorruptError (or FileNotFoundError)."""
        data = self.read_file()
        if len(data) % ENTRY_SIZE:
            raise IndexCorruptError(f"{self.path}: size {len(data)} is not a multiple of 8")
        raw: array[int] = array("i")
        raw.frombytes(data)
        if sys.byteorder == "little":
            raw.byteswap()
        offsets = raw[0::2]
        positions = raw[1::2]
        if offsets:
            if offsets[0] < 0 or positions[0] < 0:
                raise IndexCorruptError(f"{self.path}: negative first entry")
            if self.base_offset + offsets[-1] >= end_offset or positions[-1] >= log_size:
                raise IndexCorruptError(
                    f"{self.path}: last entry ({self.base_offset + offsets[-1]}, "
                    f"{positions[-1]}) is past the segment's end ({end_offset}, {log_size})"
                )
            if not (_strictly_increasing(offsets) and _strictly_increasing(positions)):
                raise IndexCorruptError(f"{self.path}: entries are not strictly increasing")
        self._offsets = offsets
        self._positions = positions
        self._sizes = array("i", [-1]) * len(offsets)
        self.loaded(len(offsets))
