"""Idempotent producer sequence checks, on a real in-memory partition."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from rafka.broker.partition import Partition
from rafka.broker.producers import (
    InvalidProducerEpochError,
    OutOfOrderSequenceError,
    ProducerIdAllocator,
)
from rafka.log import LogConfig, open_log
from rafka.records.builder import Record, build_batch


def batch(producer_id: int, epoch: int, sequence: int, count: int = 2) -> bytes:
    records = [
        Record(key=None, value=b"v%d" % i, headers=(), timestamp_ms=1, offset=i)
        for i in range(count)
    ]
    return build_batch(
        records, producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence
    )


@pytest.fixture
def partition() -> Partition:
    return Partition("t", 0, open_log(None, LogConfig(), "in_memory"), ThreadPoolExecutor(1))


def test_retried_batch_returns_original_offsets(partition: Partition) -> None:
    first = partition.append(batch(7, 0, 0))
    second = partition.append(batch(7, 0, 2))
    retry = partition.append(batch(7, 0, 0))
    assert (first.base_offset, second.base_offset) == (0, 2)
    assert (retry.base_offset, retry.last_offset) == (0, 1)
    assert partition.log.log_end_offset == 4


def test_gap_in_sequence_is_refused(partition: Partition) -> None:
    partition.append(batch(7, 0, 0))
    with pytest.raises(OutOfOrderSequenceError):
        partition.append(batch(7, 0, 5))
    assert partition.log.log_end_offset == 2


def test_old_epoch_is_fenced_and_new_epoch_restarts(partition: Partition) -> None:
    partition.append(batch(7, 1, 0))
    with pytest.raises(InvalidProducerEpochError):
        partition.append(batch(7, 0, 2))
    partition.append(batch(7, 2, 0))
    assert partition.log.log_end_offset == 4


def test_producer_ids_are_not_reused_after_restart(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    first = ProducerIdAllocator(directory)
    ids = [first.allocate() for _ in range(3)]
    again = ProducerIdAllocator(directory)
    assert again.allocate() > max(ids)
