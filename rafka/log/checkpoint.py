"""Small durable files of one partition directory, each replaced atomically.

Kafka keeps recovery points and log start offsets in one file per data directory and the
leader-epoch checkpoint per partition; Rafka keeps all of them inside the partition directory,
so a partition is loaded, moved or deleted as one directory with no shared state.

Every file uses the text layout of Kafka's CheckpointFile:

    <version>
    <entry count>
    <entry>
    ...

A write goes to `<name>.tmp`, which is fsynced, renamed over `<name>`, and then the directory
is fsynced: after a crash the file is either the old one or the new one, never a mix. Stray
`.tmp` files are deleted when the partition is loaded.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

RECOVERY_POINT_FILE = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_FILE = "log-start-offset-checkpoint"
LEADER_EPOCH_FILE = "leader-epoch-checkpoint"
# Kafka's cleaner-offset-checkpoint (one per data dir there): where the dirty part of a
# compacted log begins, plus when the earliest tombstone kept by the cleaner may go.
CLEANER_OFFSET_FILE = "cleaner-offset-checkpoint"
# Written last by a clean close(), removed first by a load: its presence means the segment
# files and indexes were complete and fsynced when the process stopped.
CLEAN_SHUTDOWN_FILE = "clean-shutdown"
TMP_SUFFIX = ".tmp"

_VERSION = 0


class CheckpointError(ValueError):
    """A checkpoint file exists but cannot be parsed."""


def fsync_dir(directory: Path) -> None:
    """Make renames, creations and deletions inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old or the new content."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


class CheckpointFile:
    """One checkpoint file: a list of text entries under a version and a count."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Writers from different threads (a flush worker, the event loop) share one .tmp name.
        self._lock = threading.Lock()

    def write_lines(self, lines: Sequence[str]) -> None:
        text = f"{_VERSION}\n{len(lines)}\n" + "".join(f"{line}\n" for line in lines)
        with self._lock:
            write_atomically(self.path, text.encode("ascii"))

    def read_lines(self) -> list[str] | None:
        """The entries, or None when the file does not exist. Raises CheckpointError."""
        try:
            text = self.path.read_bytes().decode("ascii")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{self.path}: not ASCII text") from exc
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) < 2:
            raise CheckpointError(f"{self.path}: missing version or count line")
        try:
            version = int(lines[0])
            count = int(lines[1])
        except ValueError as exc:
            raise CheckpointError(f"{self.path}: bad version or count line") from exc
        if version != _VERSION:
            raise CheckpointError(f"{self.path}: unsupported version {version}")
        entries = lines[2:]
        if count != len(entries):
            raise CheckpointError(f"{self.path}: count says {count}, found {len(entries)} entries")
        return entries


class OffsetCheckpointFile(CheckpointFile):
    """A single offset (recovery point, log start offset)."""

    def read(self) -> int | None:
        lines = self.read_lines()
        if lines is None:
            return None
        if len(lines) != 1:
            raise CheckpointError(f"{self.path}: expected one offset, found {len(lines)}")
        try:
            offset = int(lines[0])
        except ValueError as exc:
            raise CheckpointError(f"{self.path}: bad offset {lines[0]!r}") from exc
        if offset < 0:
            raise CheckpointError(f"{self.path}: negative offset {offset}")
        return offset

    def write(self, offset: int) -> None:
        self.write_lines([str(offset)])


class LeaderEpochCheckpointFile(CheckpointFile):
    """Kafka's leader-epoch-checkpoint: one `<epoch> <start offset>` line per epoch."""

    def read(self) -> list[tuple[int, int]] | None:
        lines = self.read_lines()
        if lines is None:
            return None
        entries: list[tuple[int, int]] = []
        for line in lines:
            parts = line.split()
            try:
                epoch, start = (int(part) for part in parts)
            except ValueError as exc:
                raise CheckpointError(f"{self.path}: bad entry {line!r}") from exc
            if epoch < 0 or start < 0:
                raise CheckpointError(f"{self.path}: negative entry {line!r}")
            entries.append((epoch, start))
        return entries

    def write(self, entries: Sequence[tuple[int, int]]) -> None:
        self.write_lines([f"{epoch} {start}" for epoch, start in entries])


class CleanerCheckpointFile(CheckpointFile):
    """Two lines: the first dirty offset, and the earliest delete horizon (ms) of the
    tombstones the cleaner kept (-1: none)."""

    def read(self) -> tuple[int, int] | None:
        lines = self.read_lines()
        if lines is None:
            return None
        try:
            first_dirty, horizon = (int(line) for line in lines)
        except ValueError as exc:
            raise CheckpointError(f"{self.path}: expected two integers, got {lines}") from exc
        if first_dirty < 0 or horizon < -1:
            raise CheckpointError(f"{self.path}: bad entries {lines}")
        return first_dirty, horizon

    def write(self, first_dirty: int, horizon_ms: int) -> None:
        self.write_lines([str(first_dirty), str(horizon_ms)])


class CleanShutdownMarker:
    def __init__(self, directory: Path) -> None:
        self.path = directory / CLEAN_SHUTDOWN_FILE

    def exists(self) -> bool:
        return self.path.exists()

    def write(self) -> None:
        write_atomically(self.path, b"")

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
            fsync_dir(self.path.parent)
