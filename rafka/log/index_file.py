"""What the offset index and the time index share: an append-only file of fixed-size
big-endian entries, mirrored by arrays in memory, written lazily.

Kafka preallocates and mmaps its index files. Rafka keeps the entries in `array` objects (so a
lookup is one C-level `bisect`) and appends them to the file only when the segment is flushed
or closed: the append path never makes an index syscall. This is safe because an index is never
trusted more than its segment: after an unclean shutdown every segment from the recovery point
on is rescanned and its indexes rebuilt, and any index that fails its sanity check on load is
rebuilt from the `.log` file. Entries written before the recovery point were fsynced with it.

Thread safety: the owner (a LogSegment) serialises every call with the log's lock.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class IndexCorruptError(Exception):
    """An index file fails its sanity check; the caller rebuilds it from the log."""


class IndexFile:
    """The file side of an index: entries [0, persisted) are in the file, the rest only in
    memory until `persist()`."""

    entry_size: int

    def __init__(self, path: Path, base_offset: int, max_entries: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max(1, max_entries)
        self._persisted = 0
        self._fd: int | None = None
        # The file changed since it was last handed out for fsync.
        self.needs_sync = False

    # Subclasses keep the entries and report how many there are.
    def __len__(self) -> int:
        raise NotImplementedError

    def _encode(self, start: int, stop: int) -> bytes:
        raise NotImplementedError

    def _clear_memory(self) -> None:
        raise NotImplementedError

    @property
    def is_full(self) -> bool:
        return len(self) >= self.max_entries

    @property
    def has_pending(self) -> bool:
        return self._persisted < len(self)

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._fd

    def read_file(self) -> bytes:
        """The whole file (raises FileNotFoundError)."""
        return self.path.read_bytes()

    def loaded(self, entries: int) -> None:
        """The entries now in memory are exactly the first `entries` of the file; anything the
        file holds past them (a torn write) is cut off."""
        self._persisted = entries
        fd = self._file()
        if os.fstat(fd).st_size != entries * self.entry_size:
            os.ftruncate(fd, entries * self.entry_size)
            self.needs_sync = True

    def persist(self) -> bool:
        """Write the entries not yet in the file; True if anything was written."""
        count = len(self)
        if self._persisted >= count:
            return False
        data = self._encode(self._persisted, count)
        fd = self._file()
        position = self._persisted * self.entry_size
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, position)
            view = view[written:]
            position += written
        self._persisted = count
        self.needs_sync = True
        return True

    def truncate_entries(self, keep: int) -> None:
        """Keep the first `keep` entries in the file too (memory is the subclass's job)."""
        if self._persisted > keep:
            os.ftruncate(self._file(), keep * self.entry_size)
            self._persisted = keep
            self.needs_sync = True

    def reset(self) -> None:
        """Forget every entry, in memory and on disk (before a rebuild)."""
        self._clear_memory()
        os.ftruncate(self._file(), 0)
        self._persisted = 0
        self.needs_sync = True

    def dup_fd_for_sync(self) -> int | None:
        """A duplicate descriptor to fsync in another thread (valid after `close()`), or None
        if the file has not changed since the last one was handed out."""
        if not self.needs_sync:
            return None
        self.needs_sync = False
        return os.dup(self._file())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def delete(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
