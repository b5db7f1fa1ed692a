"""A run of whole batches left in a segment file, for a writer that can send it without
copying it through Python (`os.sendfile`), or read it when it cannot.

Kafka serves fetches with `sendfile` from the segment files for the same reason: a 1 MiB
response read into a `bytes` costs a page-cache copy plus an allocation before the socket copies
it again. What each path costs on this machine is measured, and discussed, in
`rafka/server/kafka/writer.py` (the sender) and `benchmarks/send_paths.py`.

A region owns a duplicate of the segment's descriptor, so it stays readable, with the same
bytes, after retention deletes the segment or the cleaner swaps it out: the file is only
unlinked, and a run of bytes below a log's end is never rewritten in place. Whoever sends it
calls `close()`; a region dropped unsent closes its descriptor when it is collected.
"""

from __future__ import annotations

import errno
import os

__all__ = ["FileRegion"]


class FileRegion:
    """`size` bytes at `position` of an open file: batches whose base offsets start at
    `first_offset` and whose last record is `last_offset` (what a fetch counts as records
    handed out, without reading them)."""

    __slots__ = ("fd", "first_offset", "last_offset", "position", "size")

    def __init__(
        self, fd: int, position: int, size: int, first_offset: int, last_offset: int
    ) -> None:
        self.fd = fd
        self.position = position
        self.size = size
        self.first_offset = first_offset
        self.last_offset = last_offset

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return (
            f"FileRegion(fd={self.fd}, position={self.position}, size={self.size}, "
            f"offsets={self.first_offset}..{self.last_offset})"
        )

    def __bytes__(self) -> bytes:
        return self.read()

    def read(self, skip: int = 0) -> bytes:
        """The region's bytes from `skip` on, copied out (for a writer that cannot sendfile).
        Raises OSError if the file no longer holds them all."""
        want = self.size - skip
        data = os.pread(self.fd, want, self.position + skip)
        if len(data) != want:
            raise OSError(
                errno.EIO,
                f"segment file shorter than a region being served: {len(data)} of {want} bytes "
                f"at {self.position + skip}",
            )
        return data

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __del__(self) -> None:
        self.close()
