"""The disk log's tail cache (rafka.log.tail_cache) answers reads near the log end from memory:
whatever it serves must be byte-for-byte what the segment files hold. Checked against the
in-memory engine given the same operations (appends of every size around the cache's limit,
rolls, truncations), and against the same disk log reopened, when its cache starts empty."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rafka.log import DiskLog, LogConfig, MemoryLog
from rafka.log.disk import TAIL_CACHE_BYTES
from tests.log.helpers import FakeClock, commit, joined, make_batch

CONFIG = LogConfig(segment_bytes=256 * 1024, index_interval_bytes=4096)

# An append: batch sizes (records of ~100 B; 400 records are bigger than the cache).
appends = st.lists(st.sampled_from([1, 1, 2, 5, 40, 400]), min_size=1, max_size=3)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), appends),
        st.tuples(st.just("roll"), st.none()),
        st.tuples(st.just("truncate"), st.floats(0, 1)),
    ),
    min_size=1,
    max_size=25,
)


def same_reads(disk: DiskLog, memory: MemoryLog, data: st.DataObject) -> None:
    end = disk.log_end_offset
    assert memory.log_end_offset == end
    for _ in range(6):
        offset = data.draw(st.integers(max(disk.log_start_offset, end - 60), end))
        # Byte budgets on, just under and just over the batch boundaries after `offset`.
        edges, total = [], 0
        for chunk in memory.read(offset, 1 << 20).chunks[:4]:
            total += len(chunk)
            edges += [total - 1, total, total + 1]
        sizes = [0, 1, 150, 4096, TAIL_CACHE_BYTES, 1 << 20, *edges]
        max_bytes = data.draw(st.sampled_from(sizes))
        max_offset = data.draw(st.integers(offset, end))
        first = data.draw(st.booleans())
        got = disk.read(offset, max_bytes, max_offset=max_offset, min_one_batch=first)
        want = memory.read(offset, max_bytes, max_offset=max_offset, min_one_batch=first)
        assert joined(got.chunks) == joined(want.chunks), (offset, max_bytes, max_offset, first)
        assert got.size == want.size


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, data=st.data())
def test_tail_reads_equal_the_memory_engine(
    ops: list[tuple[str, object]], data: st.DataObject
) -> None:
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        disk = DiskLog(Path(tmp) / "p", CONFIG, clock)
        memory = MemoryLog(CONFIG, clock)
        tag = 0
        try:
            for kind, arg in ops:
                if kind == "append":
                    assert isinstance(arg, list)
                    records = b"".join(make_batch(n, 100, tag=(tag := tag + 1)) for n in arg)
                    disk.append(records)
                    memory.append(records)
                elif kind == "roll":
                    disk.roll()
                    memory.roll()
                else:
                    assert isinstance(arg, float)
                    start, end = disk.log_start_offset, disk.log_end_offset
                    target = start + int(arg * (end - start))
                    disk.truncate_to(target)
                    memory.truncate_to(target)
                commit(disk)
                commit(memory)
                same_reads(disk, memory, data)
            # The same reads once more from a reopened log: nothing cached, all from the files.
            disk.close()
            disk = DiskLog(Path(tmp) / "p", CONFIG, clock)
            commit(disk)
            same_reads(disk, memory, data)
        finally:
            disk.close()


def test_a_consumer_at_the_tail_reads_each_batch_as_appended(tmp_path: Path) -> None:
    log = DiskLog(tmp_path / "p", CONFIG, FakeClock())
    try:
        for tag in range(200):
            batch = make_batch(1, 100, tag=tag)
            appended = log.append(batch)
            commit(log)
            got = joined(log.read(appended.base_offset, 1 << 20).chunks)
            # The batch as sent, with its base offset and leader epoch (bytes 0-8, 12-16)
            # written in; the CRC covers neither.
            assert len(got) == len(batch)
            assert int.from_bytes(got[:8], "big") == appended.base_offset
            assert got[8:12] == batch[8:12] and got[16:] == batch[16:]
    finally:
        log.close()
