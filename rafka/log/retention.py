"""Which old segments retention deletes, decided the same way for both engines (Kafka's
UnifiedLog.deleteOldSegments and its three predicates).

Only a prefix of the segments is ever deleted, never the active (last) segment, and never a
segment holding offsets at or above the high watermark. Within that, in Kafka's order:
1. retention.ms: a segment goes when now - its largest timestamp > retention.ms (the largest
   batch timestamp, so a segment lives until its newest record expires; a segment without
   timestamps uses the time of its last append);
2. retention.bytes: the oldest segments go while the log minus them is still at least
   retention.bytes over the limit;
3. log start offset: a segment goes when the next one starts at or below the log start offset
   (DeleteRecords, or an earlier retention pass, moved it there).
Time and size retention apply only when cleanup.policy includes "delete".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rafka.log.api import LogConfig


class RetainedSegment(Protocol):
    @property
    def base_offset(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def largest_timestamp_ms(self) -> int: ...


def segments_to_delete(
    segments: Sequence[RetainedSegment],
    config: LogConfig,
    now_ms: int,
    high_watermark: int,
    log_start_offset: int,
) -> tuple[int, list[str]]:
    """(how many of the oldest segments to delete, why)."""
    # Candidates: not the active segment, and wholly below the high watermark.
    limit = 0
    while limit < len(segments) - 1 and segments[limit + 1].base_offset <= high_watermark:
        limit += 1
    count = 0
    reasons: list[str] = []
    deletes = "delete" in config.cleanup_policy.split(",")
    if deletes and config.retention_ms >= 0:
        while count < limit and now_ms - segments[count].largest_timestamp_ms > config.retention_ms:
            count += 1
        if count:
            reasons.append(f"{count} past retention.ms={config.retention_ms}")
    if deletes and config.retention_bytes >= 0:
        before = count
        excess = sum(segment.size for segment in segments[count:]) - config.retention_bytes
        while count < limit and excess - segments[count].size >= 0:
            excess -= segments[count].size
            count += 1
        if count > before:
            reasons.append(f"{count - before} past retention.bytes={config.retention_bytes}")
    before = count
    while count < limit and segments[count + 1].base_offset <= log_start_offset:
        count += 1
    if count > before:
        reasons.append(f"{count - before} below log start offset {log_start_offset}")
    return count, reasons
