"""Partition logs: the durable segmented disk log and the in-memory log, behind one interface.

`open_log()` is what the broker calls; everything else it needs is in `rafka.log.api`.
Module map (Kafka's storage layer names in brackets):
- api: the PartitionLog protocol, LogConfig, results and errors;
- disk: DiskLog [UnifiedLog + LocalLog]; memory: MemoryLog; base: the read-only offset/size
  properties both share; disk_cleaning: the disk log's hooks for the cleaner;
- segment [LogSegment], offset_index [OffsetIndex], time_index [TimeIndex], index_file;
- recovery [LogLoader]; checkpoint [checkpoint/*]; leader_epoch [LeaderEpochFileCache];
- append (validation and offset assignment), retention (which segments go), timestamps
  (ListOffsets inside a batch);
- cleaner [LogCleaner] (compaction passes), compaction (which records survive, rewritten
  batches), swap (replacing segments crash-safely, and finishing a swap after a crash).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from rafka.log.api import (
    DAY_MS,
    AppendResult,
    CleanResult,
    LogClosedError,
    LogConfig,
    LogError,
    LogStats,
    LogStorageError,
    OffsetOutOfRangeError,
    PartitionLog,
    ReadResult,
    SendChunk,
    TimestampOffset,
)
from rafka.log.disk import DiskLog, wall_clock_ms
from rafka.log.memory import MemoryLog
from rafka.log.region import FileRegion

Engine = Literal["disk", "in_memory"]


def open_log(
    directory: Path | None,
    config: LogConfig,
    engine: Engine,
    clock: Callable[[], int] = wall_clock_ms,
) -> PartitionLog:
    """Open (creating or recovering as needed) one partition's log.

    `directory` is the partition directory for the disk engine and ignored in memory.
    `clock` returns milliseconds; it drives segment.ms, LogAppendTime and flush.ms.
    """
    if engine == "disk":
        if directory is None:
            raise ValueError("the disk engine needs a partition directory")
        return DiskLog(directory, config, clock)
    if engine == "in_memory":
        return MemoryLog(config, clock)
    raise ValueError(f"unknown log engine {engine!r}")


__all__ = [
    "DAY_MS",
    "AppendResult",
    "CleanResult",
    "DiskLog",
    "Engine",
    "FileRegion",
    "LogClosedError",
    "LogConfig",
    "LogError",
    "LogStats",
    "LogStorageError",
    "MemoryLog",
    "OffsetOutOfRangeError",
    "PartitionLog",
    "ReadResult",
    "SendChunk",
    "TimestampOffset",
    "open_log",
    "wall_clock_ms",
]
