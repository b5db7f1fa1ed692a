"""Replacing segments with a rewritten one so that a crash at any point leaves either the old
or the new data (Kafka's `.cleaned` / `.swap` protocol, LocalLog.replaceSegments).

The log cleaner turns a run of consecutive old segments into one new segment whose base offset
is the first old one's, `<X>`. In order:

1. write `<X>.log.cleaned`, `<X>.index.cleaned`, `<X>.timeindex.cleaned` and fsync them;
   (crash: recovery deletes `*.cleaned`; the old segments are untouched)
2. rename them to `.swap`, the `.log` last, and fsync the directory. `<X>.log.swap` existing is
   the commit point: from here on recovery finishes the swap instead of discarding it;
3. delete the old segments' files, and fsync the directory (so that no old segment can
   reappear next to the new `<X>.log` after a crash: its offsets would overlap);
4. rename `.swap` to the final names, the `.log` last (it replaces `<X>.log` atomically).

Recovery (`complete_interrupted_swaps`, run before anything else is loaded) reads every
`<X>.log.swap` to learn the offsets it holds, [X, E), deletes every `.log` whose base offset
lies in that range (the old segments whose survivors the swap holds; an old segment the
cleaner emptied completely may start at or after E, and is then simply kept: stale but
consistent), drops the swap's index files (they are rebuilt from the `.log`), and renames
`<X>.log.swap` to `<X>.log`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from rafka.log.checkpoint import fsync_dir
from rafka.log.segment import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    parse_segment_name,
    segment_name,
)
from rafka.records.batch import BATCH_HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2, parse_header

logger = logging.getLogger("rafka.log")

CLEANED_SUFFIX = ".cleaned"
SWAP_SUFFIX = ".swap"

# A test hook: called with the name of each step as it is reached. Raising SimulatedCrash
# from it stops the pass there with every file left as it is, as a crash would; the tests
# then abandon the log and reopen the directory.
Fault = Callable[[str], None]


class SimulatedCrash(BaseException):
    """Raised by a test's fault hook; nothing on the way out tidies up after it."""


def no_fault(step: str) -> None:
    return None


def segment_paths(directory: Path, base_offset: int, suffix: str = "") -> tuple[Path, ...]:
    """The index, time index and log file of a segment, in rename order (the log last)."""
    name = segment_name(base_offset)
    return tuple(
        directory / (name + kind + suffix) for kind in (INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX)
    )


def discard(directory: Path, base_offset: int, suffix: str) -> None:
    """Remove a half-built replacement (the log first, so no stray index outlives it)."""
    for path in reversed(segment_paths(directory, base_offset, suffix)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def rename_all(directory: Path, base_offset: int, old_suffix: str, new_suffix: str) -> None:
    for source, target in zip(
        segment_paths(directory, base_offset, old_suffix),
        segment_paths(directory, base_offset, new_suffix),
        strict=True,
    ):
        os.replace(source, target)


def commit_swap(
    directory: Path, base_offset: int, delete_old: Callable[[], None], fault: Fault = no_fault
) -> None:
    """Steps 2-4 above, for the fsynced `.cleaned` files of the segment at `base_offset`.
    `delete_old` closes and unlinks the old segments."""
    fault("before-swap")
    rename_all(directory, base_offset, CLEANED_SUFFIX, SWAP_SUFFIX)
    fsync_dir(directory)
    fault("swap-renamed")
    delete_old()
    fault("old-deleted-unsynced")
    fsync_dir(directory)
    fault("old-deleted")
    index, time_index, log = segment_paths(directory, base_offset)
    swap_index, swap_time_index, swap_log = segment_paths(directory, base_offset, SWAP_SUFFIX)
    os.replace(swap_index, index)
    os.replace(swap_time_index, time_index)
    fault("indexes-renamed")
    os.replace(swap_log, log)
    # Not fsynced here: if the renames are lost, recovery finds the `.swap` and redoes them.
    fault("log-renamed")


def complete_interrupted_swaps(directory: Path) -> list[int]:
    """Finish every swap whose `.log.swap` exists (see the module docstring); returns the base
    offsets of the segments it completed."""
    swaps = sorted(
        base
        for entry in os.scandir(directory)
        if entry.name.endswith(LOG_SUFFIX + SWAP_SUFFIX)
        and (base := parse_segment_name(entry.name[: -len(SWAP_SUFFIX)])) is not None
    )
    for base in swaps:
        swap_log = segment_paths(directory, base, SWAP_SUFFIX)[2]
        end = _end_offset(swap_log, base)
        for entry in os.scandir(directory):
            old = parse_segment_name(entry.name)
            if old is not None and base <= old < end:
                logger.info("%s: replaced by the cleaned segment %s", entry.name, swap_log.name)
                discard(directory, old, "")
        for suffix in ("", SWAP_SUFFIX):
            for path in segment_paths(directory, base, suffix)[:2]:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        fsync_dir(directory)
        os.replace(swap_log, segment_paths(directory, base)[2])
        fsync_dir(directory)
        logger.warning("%s: completed an interrupted segment swap at offset %d", directory, base)
    return swaps


def _end_offset(path: Path, base_offset: int) -> int:
    """The offset after the last whole batch of a segment file (its base if none), from the
    batch headers. The file was fsynced before it was renamed to `.swap`, so it is complete;
    should the disk have damaged it, the segment's recovery checks every CRC and cuts it."""
    end = base_offset
    position = 0
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        while size - position >= BATCH_HEADER_SIZE:
            header = parse_header(os.pread(fd, BATCH_HEADER_SIZE, position))
            if header.batch_length < BATCH_HEADER_SIZE - LOG_OVERHEAD:
                break
            if header.magic != MAGIC_V2 or position + header.size > size:
                break
            end = header.base_offset + header.last_offset_delta + 1
            position += header.size
    finally:
        os.close(fd)
    return end
