"""Checkpoint files, the leader-epoch cache, and the retention decision, on their own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from rafka.log import LogConfig
from rafka.log.checkpoint import (
    CheckpointError,
    CleanShutdownMarker,
    LeaderEpochCheckpointFile,
    OffsetCheckpointFile,
    write_atomically,
)
from rafka.log.leader_epoch import LeaderEpochCache
from rafka.log.retention import segments_to_delete


def test_write_atomically_leaves_only_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    write_atomically(path, b"one")
    write_atomically(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_offset_checkpoint(tmp_path: Path) -> None:
    checkpoint = OffsetCheckpointFile(tmp_path / "recovery-point-offset-checkpoint")
    assert checkpoint.read() is None
    checkpoint.write(12345)
    assert checkpoint.path.read_text() == "0\n1\n12345\n"
    assert checkpoint.read() == 12345


@pytest.mark.parametrize(
    "text",
    ["", "0\n", "1\n1\n5\n", "0\n2\n5\n", "0\n1\nfive\n", "0\n1\n-3\n", "0\nx\n1\n", "\xff"],
)
def test_malformed_offset_checkpoints(tmp_path: Path, text: str) -> None:
    checkpoint = OffsetCheckpointFile(tmp_path / "cp")
    checkpoint.path.write_bytes(text.encode("latin-1"))
    with pytest.raises(CheckpointError):
        checkpoint.read()


def test_leader_epoch_checkpoint(tmp_path: Path) -> None:
    checkpoint = LeaderEpochCheckpointFile(tmp_path / "leader-epoch-checkpoint")
    checkpoint.write([(0, 0), (2, 150)])
    assert checkpoint.path.read_text() == "0\n2\n0 0\n2 150\n"
    assert checkpoint.read() == [(0, 0), (2, 150)]
    checkpoint.path.write_text("0\n1\n0\n")
    with pytest.raises(CheckpointError):
        checkpoint.read()


def test_clean_shutdown_marker(tmp_path: Path) -> None:
    marker = CleanShutdownMarker(tmp_path)
    assert not marker.exists()
    marker.write()
    assert marker.exists()
    marker.remove()
    marker.remove()
    assert not marker.exists()


# ----------------------------------------------------------- leader epochs


def test_assign_follows_kafka(tmp_path: Path) -> None:
    checkpoint = LeaderEpochCheckpointFile(tmp_path / "leader-epoch-checkpoint")
    cache = LeaderEpochCache(checkpoint)
    assert cache.latest_epoch == -1
    assert cache.assign(0, 0)
    assert not cache.assign(0, 5)  # same epoch, later offset: nothing new
    assert cache.assign(2, 10)
    assert checkpoint.read() == [(0, 0), (2, 10)]
    assert not cache.assign(-1, 20)
    # An older epoch at a later offset replaces the entries it conflicts with.
    assert cache.assign(1, 30)
    assert cache.entries() == [(0, 0), (1, 30)]
    # The same epoch at an earlier offset moves its start back.
    assert cache.assign(1, 20)
    assert cache.entries() == [(0, 0), (1, 20)]
    assert checkpoint.read() == [(0, 0), (1, 20)]


def test_truncations(tmp_path: Path) -> None:
    cache = LeaderEpochCache(None, [(0, 0), (1, 10), (3, 20), (4, 30)])
    cache.truncate_from_end(20)
    assert cache.entries() == [(0, 0), (1, 10)]
    cache.truncate_from_start(5)
    assert cache.entries() == [(0, 5), (1, 10)]
    cache.truncate_from_start(10)
    assert cache.entries() == [(1, 10)]
    cache.truncate_from_start(3)
    assert cache.entries() == [(1, 10)]
    cache.clear()
    assert cache.entries() == []


def test_end_offset_for_epoch_follows_kafka() -> None:
    cache = LeaderEpochCache(None, [(2, 10), (4, 20), (5, 35)])
    log_end = 50
    assert cache.end_offset_for(5, log_end) == (5, 50)  # latest: the log end
    assert cache.end_offset_for(4, log_end) == (4, 35)
    assert cache.end_offset_for(3, log_end) == (2, 20)  # unknown: largest epoch below
    assert cache.end_offset_for(1, log_end) == (1, 10)  # older than all: first start
    assert cache.end_offset_for(6, log_end) == (-1, -1)
    assert cache.end_offset_for(-1, log_end) == (-1, -1)
    assert LeaderEpochCache().end_offset_for(0, log_end) == (-1, -1)


# --------------------------------------------------------------- retention


@dataclass
class Seg:
    base_offset: int
    size: int
    largest_timestamp_ms: int


def test_retention_decision() -> None:
    segments = [Seg(0, 100, 1000), Seg(10, 100, 2000), Seg(20, 100, 3000), Seg(30, 100, 4000)]
    config = LogConfig(retention_ms=1500, retention_bytes=-1)
    assert segments_to_delete(segments, config, 3600, 40, 0)[0] == 2
    # Never the active segment, even when everything expired.
    assert segments_to_delete(segments, config, 10**9, 40, 0)[0] == 3
    # Not past the high watermark.
    assert segments_to_delete(segments, config, 10**9, 15, 0)[0] == 1
    size = LogConfig(retention_ms=-1, retention_bytes=250)
    count, reasons = segments_to_delete(segments, size, 0, 40, 0)
    assert count == 1 and "retention.bytes" in reasons[0]
    start = LogConfig(retention_ms=-1)
    assert segments_to_delete(segments, start, 0, 40, 25)[0] == 2
    compact = LogConfig(retention_ms=1, retention_bytes=0, cleanup_policy="compact")
    assert segments_to_delete(segments, compact, 10**9, 40, 0)[0] == 0
