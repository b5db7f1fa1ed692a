"""What the rest of Rafka may ask of a partition log, whichever engine stores it.

Two engines implement `PartitionLog`: the durable segmented disk log (`rafka.log.disk`) and the
in-memory log (`rafka.log.memory`). The broker layer only ever sees this interface.

Offsets: `log_start_offset` <= `high_watermark` <= `log_end_offset`. On a single node the broker
advances the high watermark to the log end offset after each append (once the flush policy is
satisfied); replication will later advance it only once followers have caught up, so the two
are kept apart from day one. A freshly opened log starts with its high watermark at the log end
offset (single-node semantics: everything that survived recovery is committed); replication
will need a high-watermark checkpoint instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from rafka.log.region import FileRegion
from rafka.records import TimestampType

DAY_MS = 24 * 60 * 60 * 1000


class LogError(Exception):
    """Base class for errors raised by a partition log."""


class OffsetOutOfRangeError(LogError):
    """A read asked for an offset below the log start offset or above the log end offset."""


class LogClosedError(LogError):
    """The log was closed or deleted."""


class LogStorageError(LogError):
    """The disk failed under an operation (Kafka's KAFKA_STORAGE_ERROR). An append that raises
    this wrote nothing: any partial write was cut back off the segment."""


@dataclass(slots=True)
class LogStats:
    """Plain counters for metrics; each engine updates its own instance in place."""

    segments_rolled: int = 0
    segments_deleted_by_retention: int = 0
    segments_recovered: int = 0  # at load, after an unclean shutdown or a failed check
    bytes_truncated_by_recovery: int = 0
    flushes: int = 0
    # Log compaction (rafka.log.cleaner): passes that rewrote segments, the bytes of the
    # segments they read, and how many bytes and records they removed.
    cleaner_passes: int = 0
    bytes_cleaned: int = 0
    bytes_removed_by_cleaner: int = 0
    records_removed_by_cleaner: int = 0


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Per-partition settings; Kafka's topic config names are in the comments."""

    segment_bytes: int = 1024 * 1024 * 1024  # segment.bytes
    segment_ms: int = 7 * DAY_MS  # segment.ms
    index_interval_bytes: int = 4096  # index.interval.bytes
    segment_index_bytes: int = 10 * 1024 * 1024  # segment.index.bytes
    retention_ms: int = 7 * DAY_MS  # retention.ms (-1: keep forever)
    retention_bytes: int = -1  # retention.bytes (-1: no size limit)
    max_message_bytes: int = 1024 * 1024 + 12  # max.message.bytes (one batch)
    flush_messages: int = 0  # flush.messages (0: leave it to the OS; 1: fsync every append)
    flush_ms: int = 1000  # flush.ms (fsync at least this often; 0 with flush_messages=0: never)
    message_timestamp_type: TimestampType = TimestampType.CREATE_TIME  # message.timestamp.type
    cleanup_policy: str = "delete"  # cleanup.policy: delete | compact | compact,delete
    file_delete_delay_ms: int = 60_000  # file.delete.delay.ms
    delete_retention_ms: int = DAY_MS  # delete.retention.ms (how long tombstones outlive a clean)
    min_cleanable_dirty_ratio: float = 0.5  # min.cleanable.dirty.ratio
    min_compaction_lag_ms: int = 0  # min.compaction.lag.ms

    @property
    def compacts(self) -> bool:
        return "compact" in self.cleanup_policy.split(",")


@dataclass(slots=True)  # one per append: not frozen, for a cheaper __init__
class AppendResult:
    base_offset: int
    last_offset: int
    # -1 unless the topic uses LogAppendTime, as in Kafka's ProduceResponse.
    log_append_time_ms: int
    log_start_offset: int


Chunk = TypeVar("Chunk")
# What `read()` returns, and what `read_for_sending()` may also return: a run of a segment
# file for a writer to `sendfile` (rafka.log.region).
ByteChunk = bytes | memoryview
SendChunk = bytes | memoryview | FileRegion


@dataclass(slots=True)
class ReadResult(Generic[Chunk]):
    """Whole batches, as the segment files hold them (never re-encoded).

    `chunks` concatenated are the bytes to put in a fetch response's records field. They may be
    bytes or memoryviews (callers must not keep memoryviews past the next append or roll), and
    from `read_for_sending()` also `FileRegion`s, which the caller must send or close.
    """

    chunks: list[Chunk] = field(default_factory=list)
    size: int = 0
    # The offsets the log held at the moment of the read.
    log_start_offset: int = 0
    high_watermark: int = 0
    log_end_offset: int = 0


@dataclass(frozen=True, slots=True)
class CleanResult:
    """What one log cleaner pass did to one partition (`cleaned` False: nothing was due, and
    `reason` says why)."""

    cleaned: bool
    reason: str = ""
    segments_before: int = 0
    segments_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    records_removed: int = 0
    # Offsets below this are now clean: each key appears at most once there.
    first_dirty_offset: int = 0


@dataclass(frozen=True, slots=True)
class TimestampOffset:
    timestamp_ms: int
    offset: int


class PartitionLog(Protocol):
    """One partition's log. Not thread-safe: the broker calls it from one thread (its event
    loop), except `flush()` and `clean()`, which it may run in worker threads while appends
    and reads continue."""

    @property
    def log_start_offset(self) -> int: ...
    @property
    def log_end_offset(self) -> int: ...
    @property
    def high_watermark(self) -> int: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def segment_count(self) -> int: ...
    @property
    def config(self) -> LogConfig: ...

    def append(
        self, records: bytes | bytearray | memoryview, leader_epoch: int = 0
    ) -> AppendResult:
        """Validate one or more concatenated v2 batches (header, length, CRC32C, max size),
        assign consecutive offsets by rewriting each base offset, stamp the leader epoch,
        apply LogAppendTime if configured, and append. All-or-nothing: a failing batch raises
        a `rafka.records.BatchError` subclass and nothing is written."""
        ...

    def read(
        self, offset: int, max_bytes: int, max_offset: int | None = None, min_one_batch: bool = True
    ) -> ReadResult[ByteChunk]:
        """Whole batches starting with the one containing `offset`, up to `max_bytes` (but at
        least one whole batch if `min_one_batch`, as Kafka does so a large batch is never stuck),
        and none at or beyond `max_offset` (the high watermark, for consumers).
        Raises OffsetOutOfRangeError outside [log_start_offset, log_end_offset]."""
        ...

    def read_for_sending(
        self, offset: int, max_bytes: int, max_offset: int | None = None, min_one_batch: bool = True
    ) -> ReadResult[SendChunk]:
        """`read()` for a writer that puts the bytes on a socket: a large run may come back as
        a `FileRegion` to `sendfile` (the disk engine), which the caller must send or close."""
        ...

    def offset_for_timestamp(self, timestamp_ms: int) -> TimestampOffset | None:
        """ListOffsets by timestamp, as Kafka answers it: the first record at or after the log
        start offset whose timestamp is >= `timestamp_ms`, with that timestamp. The time index
        finds the first batch whose max timestamp qualifies; that one batch is then decoded to
        find the record. None if every batch is older."""
        ...

    def max_timestamp(self) -> TimestampOffset | None:
        """The largest timestamp in the log and the offset of the first record carrying it
        (ListOffsets MAX_TIMESTAMP). None if the log is empty or no batch has a timestamp."""
        ...

    def set_high_watermark(self, offset: int) -> None: ...

    def delete_records_before(self, offset: int) -> int:
        """Advance the log start offset (DeleteRecords); whole segments below it are deleted.
        `offset` -1 means the high watermark, as in Kafka. Raises OffsetOutOfRangeError above
        the high watermark; an offset at or below the log start offset changes nothing.
        Returns the new log start offset."""
        ...

    def apply_retention(self, now_ms: int) -> int:
        """Delete whole segments past retention.ms / retention.bytes (never the active one).
        Returns the number of segments deleted."""
        ...

    def clean(self, now_ms: int) -> CleanResult:
        """Log compaction (Kafka's LogCleaner) for cleanup.policy=compact: when the dirty ratio
        or a tombstone's delete horizon says so, rewrite the closed segments below the high
        watermark keeping only the latest record of each key, offsets unchanged. Never touches
        the active segment. May run in a worker thread (see the class docstring)."""
        ...

    def update_config(self, config: LogConfig) -> None: ...

    def flush(self) -> None:
        """fsync everything appended before the call and record the recovery point. May run
        in a worker thread while the event loop keeps appending; a no-op once closed."""
        ...

    def needs_flush(self, now_ms: int) -> bool:
        """True when flush.messages or flush.ms says a flush is due."""
        ...

    def leader_epoch_start_offsets(self) -> Sequence[tuple[int, int]]:
        """(epoch, start offset) pairs, oldest first: the leader-epoch checkpoint."""
        ...

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (largest epoch <= `epoch`, its end offset); (-1, -1) if none."""
        ...

    def truncate_to(self, offset: int) -> None:
        """Drop every batch holding an offset at or above `offset` (a follower diverging from
        its leader); a batch straddling `offset` goes whole, so the new log end offset may be
        below `offset`. At or below the log start offset the log is emptied and restarts at
        `offset`. The truncation is durable when this returns."""
        ...

    def roll(self) -> int:
        """Start a new active segment now (if the current one has data); returns its base
        offset."""
        ...

    @property
    def stats(self) -> LogStats: ...

    def close(self) -> None:
        """Flush, write the clean-shutdown marker, release files."""
        ...

    def delete(self) -> None:
        """Close and remove every file of this partition."""
        ...
