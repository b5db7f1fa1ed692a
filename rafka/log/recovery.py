"""Loading a partition directory (Kafka's LogLoader): find the segments, decide how much to
trust them, and leave a log that is safe to append to.

Steps, in order:
1. Note whether the clean-shutdown marker is there, then remove it (and fsync the directory)
   before touching anything else, so a crash during loading makes the next load unclean too.
2. Finish an interrupted segment swap of the log cleaner (a `<base>.log.swap` exists: it
   replaces the old segments whose offsets it covers, `rafka.log.swap`), then delete
   leftovers of interrupted operations: `*.tmp` (checkpoint writes), `*.deleted`,
   `*.cleaned` (a cleaner pass that had not committed), other `*.swap`, and index files
   whose `.log` is gone.
3. Open every `<20-digit base offset>.log`, in offset order.
4. Clean shutdown: each segment gets the cheap tail check (its indexes' last entries, then the
   headers of the batches after the last indexed one must end exactly at the end of the file).
   A segment that fails it is recovered as below.
   Unclean shutdown: the segments before the one holding the recovery point get the same tail
   check; that segment and every later one are *recovered*: every batch is read and checked
   (length, magic, CRC32C, offsets increasing), the indexes rebuilt, and the file cut at the
   first bad byte. Data before the damage is never touched; segments after a damaged one are
   deleted, since their offsets would no longer follow on.
5. Segments wholly below the log start offset (a crash between advancing it and deleting
   them) are deleted; an empty log gets an empty segment at the log start offset.
6. Recovered segments are fsynced, and only then is the recovery point moved to the log end.
7. The leader-epoch cache is trimmed to the log and extended with any newer epochs stamped in
   recovered batches (Kafka does the same from the batches it recovers).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from rafka.log.api import LogConfig
from rafka.log.checkpoint import (
    LEADER_EPOCH_FILE,
    LOG_START_OFFSET_FILE,
    RECOVERY_POINT_FILE,
    TMP_SUFFIX,
    CheckpointError,
    CleanShutdownMarker,
    LeaderEpochCheckpointFile,
    OffsetCheckpointFile,
    fsync_dir,
)
from rafka.log.leader_epoch import LeaderEpochCache
from rafka.log.segment import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    LogSegment,
    parse_segment_name,
)
from rafka.log.swap import complete_interrupted_swaps

logger = logging.getLogger("rafka.log")

_STRAY_SUFFIXES = (TMP_SUFFIX, ".deleted", ".cleaned", ".swap")


@dataclass(slots=True)
class LoadedLog:
    segments: list[LogSegment]
    log_start_offset: int
    recovery_point: int
    epochs: LeaderEpochCache
    clean_shutdown: bool
    segments_recovered: int = 0
    bytes_truncated: int = 0
    stray_files_deleted: list[str] = field(default_factory=list)


def _read_offset(checkpoint: OffsetCheckpointFile) -> int | None:
    try:
        return checkpoint.read()
    except CheckpointError as exc:
        logger.warning("ignoring damaged checkpoint: %s", exc)
        return None


def load_log(directory: Path, config: LogConfig, now_ms: int) -> LoadedLog:
    directory.mkdir(parents=True, exist_ok=True)
    marker = CleanShutdownMarker(directory)
    clean = marker.exists()
    marker.remove()

    swapped = complete_interrupted_swaps(directory)
    stray = _delete_stray_files(directory)
    if swapped:
        # The swapped-in segment has no trusted index and must be rescanned.
        clean = False

    recovery_checkpoint = OffsetCheckpointFile(directory / RECOVERY_POINT_FILE)
    start_checkpoint = OffsetCheckpointFile(directory / LOG_START_OFFSET_FILE)
    epoch_checkpoint = LeaderEpochCheckpointFile(directory / LEADER_EPOCH_FILE)
    recovery_point = _read_offset(recovery_checkpoint)
    if recovery_point is None:
        # Without a recovery point nothing can be assumed flushed: check everything.
        recovery_point = 0
        clean = False if _has_segments(directory) else clean
    checkpointed_start = _read_offset(start_checkpoint)
    try:
        epoch_entries = epoch_checkpoint.read() or []
    except CheckpointError as exc:
        logger.warning("ignoring damaged leader-epoch checkpoint: %s", exc)
        epoch_entries = []

    interval = config.index_interval_bytes
    index_bytes = config.segment_index_bytes
    segments = [
        LogSegment.open(directory, base, interval, index_bytes)
        for base in sorted(_segment_bases(directory))
    ]

    if clean:
        first_to_recover = len(segments)
    else:
        first_to_recover = 0
        for i, segment in enumerate(segments):
            if segment.base_offset <= recovery_point:
                first_to_recover = i

    # The log start offset as far as it can be known before scanning.
    start_estimate = max(checkpointed_start or 0, segments[0].base_offset if segments else 0)
    recovered = 0
    truncated = 0
    recovered_epochs: list[tuple[int, int]] = []
    i = 0
    while i < len(segments):
        segment = segments[i]
        removed = 0
        if i >= first_to_recover or not segment.check_tail():
            removed, epochs = segment.recover(epoch_floor=start_estimate)
            recovered += 1
            truncated += removed
            recovered_epochs.extend(epochs)
        following = segments[i + 1] if i + 1 < len(segments) else None
        if following is not None and (removed or segment.next_offset > following.base_offset):
            # Damage inside a segment that is not the last: what follows no longer continues
            # it. Keep everything before the damage, drop the rest (as Kafka does).
            for later in segments[i + 1 :]:
                logger.warning("deleting %s: it follows damaged data", later.log_path.name)
                later.delete()
            del segments[i + 1 :]
        i += 1

    log_start = max(checkpointed_start or 0, segments[0].base_offset if segments else 0)
    # Whole segments below the log start offset were due for deletion when we stopped.
    while len(segments) > 1 and segments[1].base_offset <= log_start:
        logger.info("deleting %s: below log start offset %d", segments[0].log_path.name, log_start)
        segments.pop(0).delete()
    log_end = segments[-1].next_offset if segments else log_start
    emptied = log_start > log_end
    if emptied:
        logger.warning(
            "log start offset %d is past the recovered log end %d: starting empty at %d",
            log_start,
            log_end,
            log_start,
        )
        for segment in segments:
            segment.delete()
        segments = []
    if not segments:
        segments.append(LogSegment.create(directory, log_start, interval, index_bytes, now_ms))
        log_end = log_start

    if recovered or not clean:
        for segment in segments:
            if segment.dirty:
                for fd in segment.prepare_flush():
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
    fsync_dir(directory)
    if recovery_point != log_end:
        recovery_checkpoint.write(log_end)
    if checkpointed_start != log_start:
        start_checkpoint.write(log_start)

    # Work on a cache without a file, then write the result once.
    work = LeaderEpochCache(None, epoch_entries)
    if emptied:
        work.clear()
        recovered_epochs = []
    # Drop epochs that start at or after the log end (their data is gone), as Kafka's loader
    # does. (This includes an entry that DeleteRecords moved up to the end of an emptied log.)
    work.truncate_from_end(log_end)
    for epoch, start in recovered_epochs:
        # As Kafka's LogSegment.recover: only epochs newer than any known one are added (an
        # older epoch seen again in a recovered segment started before it, where the
        # checkpoint already has it right).
        if start < log_end and epoch > work.latest_epoch:
            work.assign(epoch, start)
    work.truncate_from_start(log_start)
    cache = LeaderEpochCache(epoch_checkpoint, work.entries())
    if cache.entries() != epoch_entries:
        epoch_checkpoint.write(cache.entries())

    if recovered:
        logger.info(
            "%s: recovered %d segment(s), truncated %d byte(s), log end offset %d",
            directory,
            recovered,
            truncated,
            log_end,
        )
    return LoadedLog(
        segments=segments,
        log_start_offset=log_start,
        recovery_point=log_end,
        epochs=cache,
        clean_shutdown=clean,
        segments_recovered=recovered,
        bytes_truncated=truncated,
        stray_files_deleted=stray,
    )


def _has_segments(directory: Path) -> bool:
    return any(True for _ in _segment_bases(directory))


def _segment_bases(directory: Path) -> list[int]:
    bases = []
    for entry in os.scandir(directory):
        base = parse_segment_name(entry.name)
        if base is not None and entry.is_file():
            bases.append(base)
    return bases


def _delete_stray_files(directory: Path) -> list[str]:
    deleted: list[str] = []
    names = {entry.name for entry in os.scandir(directory)}
    for name in sorted(names):
        orphan_index = False
        for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            if name.endswith(suffix):
                stem = name[: -len(suffix)]
                orphan_index = stem + LOG_SUFFIX not in names
        if name.endswith(_STRAY_SUFFIXES) or orphan_index:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(directory / name)
            deleted.append(name)
    if deleted:
        logger.info("%s: deleted leftover files %s", directory, deleted)
        fsync_dir(directory)
    return deleted
