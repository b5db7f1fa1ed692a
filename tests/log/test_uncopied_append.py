"""Large appends are written without copying the caller's bytes (rafka.log.append): each batch
as its numbered first 16 bytes plus a view of the rest, in one writev. What the segment files
then hold must be exactly what the copying path writes: checked against the in-memory engine
(which always keeps its own copy) and against the same log reopened from its files."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rafka.log import DiskLog, LogConfig, MemoryLog
from rafka.log.append import UNCOPIED_MAX_BATCHES, UNCOPIED_MIN_BYTES
from rafka.records import TimestampType, iter_batches, validate_batches
from tests.log.helpers import FakeClock, commit, joined, make_batch

CONFIG = LogConfig(segment_bytes=1 << 20, index_interval_bytes=4096)

# Requests of 1 to 12 batches whose total lands on both sides of the threshold.
requests = st.lists(
    st.lists(st.integers(1, 90), min_size=1, max_size=UNCOPIED_MAX_BATCHES + 4),
    min_size=1,
    max_size=6,
)


def everything(log: DiskLog | MemoryLog) -> bytes:
    return joined(log.read(log.log_start_offset, 1 << 30).chunks)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=requests, epoch=st.integers(0, 5))
def test_disk_files_equal_the_memory_engine_whatever_the_path(
    plan: list[list[int]], epoch: int
) -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        disk = DiskLog(Path(tmp) / "p", CONFIG, clock)
        memory = MemoryLog(CONFIG, clock)
        tag = 0
        for batch_records in plan:
            # ~1 KiB records: 64 of them make one batch the size of the threshold.
            request = b"".join(make_batch(n, 1000, tag=(tag := tag + 1)) for n in batch_records)
            before = bytes(request)
            got, want = disk.append(request, epoch), memory.append(request, epoch)
            assert (got.base_offset, got.last_offset) == (want.base_offset, want.last_offset)
            assert request == before, "the caller's bytes must not be patched"
            commit(disk)
            commit(memory)
        stored = everything(disk)
        assert stored == everything(memory)
        # Numbered in order, stamped with the epoch, every CRC intact.
        headers = validate_batches(stored)
        assert headers[0].base_offset == 0
        for previous, header in itertools.pairwise(headers):
            assert header.base_offset == previous.last_offset + 1
        assert {h.partition_leader_epoch for h in headers} == {epoch}
        disk.close()
        reopened = DiskLog(Path(tmp) / "p", CONFIG, clock)
        commit(reopened)
        assert everything(reopened) == stored
        reopened.close()


def test_a_one_mib_request_is_stored_exactly(tmp_path: Path) -> None:
    disk = DiskLog(tmp_path / "p", CONFIG, FakeClock())
    request = make_batch(1000, 1000, tag=7)
    assert len(request) >= UNCOPIED_MIN_BYTES
    disk.append(bytearray(make_batch(1, 10)))  # offset 0, copied
    disk.append(request)  # offsets 1-1000, uncopied
    commit(disk)
    stored = everything(disk)
    (_, _), (position, second) = list(iter_batches(stored))
    assert (second.base_offset, second.last_offset) == (1, 1000)
    # Everything after the numbered head is the producer's bytes, untouched.
    assert stored[position + 16:] == request[16:]
    disk.close()


def test_log_append_time_on_a_large_batch_rewrites_it(tmp_path: Path) -> None:
    clock = FakeClock()
    config = LogConfig(segment_bytes=1 << 20, message_timestamp_type=TimestampType.LOG_APPEND_TIME)
    disk = DiskLog(tmp_path / "p", config, clock)
    request = make_batch(200, 1000, timestamp=5)
    assert len(request) >= UNCOPIED_MIN_BYTES
    result = disk.append(request)
    commit(disk)
    (header,) = validate_batches(everything(disk))  # the CRC was recomputed
    assert header.max_timestamp == result.log_append_time_ms == clock.now
    disk.close()
