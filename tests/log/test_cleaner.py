"""Log compaction on the disk log (rafka.log.cleaner): the latest value per key survives with
its offset, tombstones go after delete.retention.ms, the active segment is never touched,
reads work across the gaps, and a crash at any step of the segment swap recovers to a
consistent log that still has every latest value."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rafka.log import DAY_MS, DiskLog, LogConfig, MemoryLog, open_log
from rafka.log.cleaner import clean_log
from rafka.log.compaction import DELETE_HORIZON_BIT
from rafka.log.swap import SimulatedCrash
from rafka.records import (
    Compression,
    InvalidBatchError,
    Record,
    build_batch,
    decode_batch,
    decode_batches,
    iter_batches,
)
from rafka.records.batch import TimestampType
from tests.log.helpers import START_MS, FakeClock, joined

COMPACT = LogConfig(
    cleanup_policy="compact",
    segment_bytes=1024,
    index_interval_bytes=128,
    min_cleanable_dirty_ratio=0.0,
)

Entry = tuple[int, bytes, bytes | None]  # offset, key, value


def kv(*pairs: tuple[str, str | None], timestamp: int = START_MS, **kwargs: int) -> bytes:
    """One batch of (key, value) records; a None value is a tombstone."""
    records = [
        Record(k.encode(), None if v is None else v.encode(), (), timestamp) for k, v in pairs
    ]
    return build_batch(records, **kwargs)  # type: ignore[arg-type]


def records(log: DiskLog | MemoryLog) -> list[Record]:
    """Every record from the log start, as a consumer reads them: a read at an offset the
    cleaner removed returns the batch holding the next offsets (whose records may all be
    below it: the consumer then moves past the batch's last offset), and one past the last
    survivor returns nothing."""
    offset = log.log_start_offset
    found: list[Record] = []
    while offset < log.log_end_offset:
        data = joined(log.read(offset, 4096).chunks)
        if not data:
            break
        found.extend(r for r in decode_batches(data) if r.offset >= offset)
        offset = [header for _, header in iter_batches(data)][-1].next_offset
    return found


def entries(log: DiskLog | MemoryLog) -> list[Entry]:
    return [(r.offset, r.key or b"", r.value) for r in records(log)]


def fill(log: DiskLog, count: int, keys: int, tombstone_every: int = 0) -> dict[bytes, Entry]:
    """Append `count` single-record batches cycling over `keys` keys, close the last segment
    (so everything is cleanable) and commit; returns key -> latest (offset, key, value)."""
    latest: dict[bytes, Entry] = {}
    for i in range(count):
        key = f"key-{i % keys}"
        value = None if tombstone_every and i % tombstone_every == 0 else f"value-{i}"
        result = log.append(kv((key, value)))
        latest[key.encode()] = (
            result.base_offset,
            key.encode(),
            None if value is None else value.encode(),
        )
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    return latest


def segment_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".log"))


@pytest.fixture
def disk(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., DiskLog]]:
    opened: list[DiskLog] = []

    def make(config: LogConfig = COMPACT) -> DiskLog:
        log = DiskLog(tmp_path / "compacted-0", config, clock)
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


# ------------------------------------------------------------------ what survives


def test_only_the_latest_value_of_each_key_survives_with_its_offset(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    log = disk()
    latest = fill(log, 300, keys=10)
    segments = log.segment_count
    before = log.size_bytes
    result = log.clean(clock.now)
    assert result.cleaned and result.records_removed == 290
    assert entries(log) == sorted(latest.values())
    assert log.size_bytes < before // 5
    assert log.log_end_offset == 300 and log.log_start_offset == 0
    # Every closed segment was cleaned, and the survivors merged into one (plus the active).
    assert (result.segments_before, result.segments_after) == (segments - 1, 1)
    assert log.segment_count == 2
    log.append(kv(("key-0", "again")))
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    assert log.clean(clock.now).cleaned
    assert log.segment_count == 2
    assert log.stats.cleaner_passes == 2
    assert log.stats.bytes_removed_by_cleaner >= before - log.size_bytes - 100
    assert log.stats.records_removed_by_cleaner == 291


def test_rewritten_batches_keep_offsets_producer_fields_and_codec(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    log = disk()
    pairs = [(f"k{i % 4}", f"v{i}") for i in range(12)]
    log.append(
        kv(
            *pairs,
            compression=Compression.GZIP,
            producer_id=7,
            producer_epoch=3,
            base_sequence=40,
        ),
        leader_epoch=5,
    )
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    assert log.clean(clock.now).cleaned
    data = joined(log.read(0, 1 << 20).chunks)
    (position, header), *rest = list(iter_batches(data))
    assert not rest
    # Same offset span, fewer records: the batch has gaps, as Kafka's compacted batches do.
    assert (header.base_offset, header.last_offset_delta, header.record_count) == (0, 11, 4)
    assert header.compression == Compression.GZIP  # recompressed with its own codec
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 3, 40)
    assert header.partition_leader_epoch == 5
    decoded = decode_batch(data, position)  # checks the recomputed CRC32C
    assert [(r.offset, r.key, r.value) for r in decoded] == [
        (8, b"k0", b"v8"),
        (9, b"k1", b"v9"),
        (10, b"k2", b"v10"),
        (11, b"k3", b"v11"),
    ]
    assert all(r.timestamp_ms == START_MS for r in decoded)


def test_log_append_time_batches_keep_their_timestamp(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    config = LogConfig(
        cleanup_policy="compact",
        message_timestamp_type=TimestampType.LOG_APPEND_TIME,
        min_cleanable_dirty_ratio=0.0,
    )
    log = disk(config)
    log.append(kv(("a", "1"), ("b", "2"), ("a", "3"), timestamp=5))
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    assert log.clean(clock.now + 10).cleaned
    found = records(log)
    assert [(r.offset, r.value, r.timestamp_ms) for r in found] == [
        (1, b"2", START_MS),
        (2, b"3", START_MS),
    ]


def test_the_active_segment_is_never_touched(
    disk: Callable[..., DiskLog], clock: FakeClock, tmp_path: Path
) -> None:
    log = disk()
    fill(log, 60, keys=3)
    for i in range(5):
        log.append(kv(("key-0", f"active-{i}")))
    log.set_high_watermark(log.log_end_offset)
    active = tmp_path / "compacted-0" / segment_files(tmp_path / "compacted-0")[-1]
    before = active.read_bytes()
    assert log.clean(clock.now).cleaned
    assert active.read_bytes() == before
    values = [value for _, key, value in entries(log) if key == b"key-0"]
    # The closed part keeps key-0 once; every record of the active segment is still there.
    assert values == [b"value-57", *(f"active-{i}".encode() for i in range(5))]


def test_reads_work_across_offset_gaps(disk: Callable[..., DiskLog], clock: FakeClock) -> None:
    log = disk()
    latest = fill(log, 200, keys=5)
    assert log.clean(clock.now).cleaned
    survivors = sorted(offset for offset, _, _ in latest.values())
    for offset in range(0, 200, 7):
        result = log.read(offset, 1)  # at least one whole batch
        first = decode_batch(joined(result.chunks))[0].offset
        assert first == next(s for s in survivors if s >= offset)
    assert log.read(survivors[-1] + 1, 1000).size == 0  # a gap up to the log end
    offsets = log.offset_for_timestamp(START_MS)
    assert offsets is not None and offsets.offset == survivors[0]


def test_nothing_is_cleaned_below_the_dirty_ratio_or_the_compaction_lag(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    lagging = LogConfig(cleanup_policy="compact", segment_bytes=1024, min_compaction_lag_ms=DAY_MS)
    log = disk(lagging)
    fill(log, 200, keys=50)
    result = log.clean(clock.now)
    assert not result.cleaned and "no closed segment" in result.reason
    clock.advance(DAY_MS)
    assert log.clean(clock.now).cleaned
    # One new small segment against 50 clean records: below the default ratio of 0.5.
    log.append(kv(("key-1", "x")))
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    clock.advance(DAY_MS)
    result = log.clean(clock.now)
    assert not result.cleaned and "dirty ratio" in result.reason
    log.update_config(dataclasses.replace(lagging, min_cleanable_dirty_ratio=0.01))
    assert log.clean(clock.now).records_removed == 1


def test_segments_above_the_high_watermark_are_not_cleaned(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    log = disk()
    fill(log, 100, keys=5)
    log.set_high_watermark(0)
    assert not log.clean(clock.now).cleaned
    assert len(entries(log)) == 100


def test_a_delete_only_topic_is_never_cleaned(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    log = disk(LogConfig(segment_bytes=1024, min_cleanable_dirty_ratio=0.0))
    fill(log, 100, keys=5)
    assert not log.clean(clock.now).cleaned
    assert len(entries(log)) == 100


# ------------------------------------------------------------------ tombstones


def horizon_bits(log: DiskLog) -> list[bool]:
    data = joined(log.read(log.log_start_offset, 1 << 20).chunks)
    return [bool(h.attributes & DELETE_HORIZON_BIT) for _, h in iter_batches(data)]


def test_tombstones_are_kept_for_delete_retention_ms_after_the_first_clean(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    log = disk(dataclasses.replace(COMPACT, delete_retention_ms=60_000))
    log.append(kv(("gone", "1"), ("kept", "1")))
    log.append(kv(("gone", None)))
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    assert log.clean(clock.now).cleaned
    assert entries(log) == [(1, b"kept", b"1"), (2, b"gone", None)]
    assert horizon_bits(log) == [False, True]  # the tombstone's batch carries its horizon
    clock.advance(59_999)
    result = log.clean(clock.now)
    assert not result.cleaned  # nothing dirty, horizon not reached
    assert entries(log) == [(1, b"kept", b"1"), (2, b"gone", None)]
    clock.advance(1)
    assert log.clean(clock.now).cleaned  # the horizon alone triggers the pass
    assert entries(log) == [(1, b"kept", b"1")]
    assert log.log_end_offset == 3


def test_a_tombstone_horizon_survives_a_restart(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    config = LogConfig(
        cleanup_policy="compact", delete_retention_ms=1000, min_cleanable_dirty_ratio=0.0
    )
    log = disk(config)
    log.append(kv(("a", "1")))
    log.append(kv(("a", None)))
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    assert log.clean(clock.now).cleaned
    log.close()
    clock.advance(1000)
    log = disk(config)
    assert entries(log) == [(1, b"a", None)]
    assert log.clean(clock.now).cleaned
    assert entries(log) == []
    assert log.log_end_offset == 2


# ------------------------------------------------------------------ keys


def test_compacted_logs_refuse_records_without_a_key(tmp_path: Path, clock: FakeClock) -> None:
    for engine in ("disk", "in_memory"):
        directory = tmp_path / engine if engine == "disk" else None
        log = open_log(directory, COMPACT, engine, clock)  # type: ignore[arg-type]
        keyless = build_batch([Record(b"k", b"v"), Record(None, b"no key")])
        with pytest.raises(InvalidBatchError, match="without a key"):
            log.append(keyless)
        assert log.log_end_offset == 0
        log.append(kv(("k", "v")))
        log.close()


def test_keyless_records_from_before_compaction_are_dropped(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    log = disk(LogConfig(segment_bytes=1024))
    log.append(build_batch([Record(None, b"no key"), Record(b"k", b"v")]))
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    log.update_config(COMPACT)
    assert log.clean(clock.now).cleaned
    assert entries(log) == [(1, b"k", b"v")]


def test_the_in_memory_engine_does_not_compact(clock: FakeClock) -> None:
    log = MemoryLog(COMPACT, clock)
    for i in range(50):
        log.append(kv(("k", str(i))))
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    result = log.clean(clock.now)
    assert not result.cleaned and "retention only" in result.reason
    assert len(entries(log)) == 50


# ------------------------------------------------------------------ restarts and crashes


def test_a_cleaned_log_reopens_cleanly_and_after_a_crash(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    log = disk()
    latest = fill(log, 200, keys=7)
    assert log.clean(clock.now).cleaned
    expected = entries(log)
    log.close()
    log = disk()
    assert log.clean_shutdown and entries(log) == expected
    log._abandon()
    # Unclean: every segment from the recovery point is rescanned, CRCs and all; batches with
    # offset gaps must pass that check untouched.
    log = disk()
    assert not log.clean_shutdown
    assert entries(log) == expected == sorted(latest.values())
    assert log.stats.bytes_truncated_by_recovery == 0
    assert log.append(kv(("key-1", "after"))).base_offset == 200
    # The dirty offset was checkpointed: the next pass finds only the new segment dirty.
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    result = log.clean(clock.now)
    assert result.cleaned and result.records_removed == 1


SWAP_STEPS = [
    "cleaned-unsynced",
    "cleaned-written",
    "before-swap",
    "swap-renamed",
    "old-deleted-unsynced",
    "old-deleted",
    "indexes-renamed",
    "log-renamed",
]


@pytest.mark.parametrize("step", SWAP_STEPS)
@pytest.mark.parametrize("occurrence", [1, 2])
def test_a_crash_at_any_step_of_a_swap_recovers_to_a_consistent_log(
    disk: Callable[..., DiskLog],
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    step: str,
    occurrence: int,
) -> None:
    """Crash in the first or second group of a pass (the first one then committed), at
    `step`; after recovery every record read is one that was written at that offset, every
    key's latest value is there, and a new pass compacts fully."""
    log = disk()
    fill(log, 120, keys=60)
    assert log.clean(clock.now).cleaned
    # 60 keys' survivors take several 1 KiB segments: the next pass writes several groups.
    latest = fill(log, 240, keys=60, tombstone_every=9)
    before = set(entries(log))
    seen = 0

    def crash(name: str) -> None:
        nonlocal seen
        if name == step:
            seen += 1
            if seen == occurrence:
                raise SimulatedCrash(name)

    with pytest.raises(SimulatedCrash):
        clean_log(log, clock.now, fault=crash)
    log._abandon()
    log = disk()
    directory = tmp_path / "compacted-0"
    assert not [name for name in os.listdir(directory) if name.endswith((".cleaned", ".swap"))]
    after = entries(log)
    assert set(after) <= before  # nothing invented, nothing moved to another offset
    offsets = [offset for offset, _, _ in after]
    assert offsets == sorted(set(offsets))
    for entry in latest.values():
        assert entry in after
    # Before the commit point (`<base>.log.swap` written) the crashed group's old data is
    # kept; from there until the final rename, recovery finishes the swap. (A finished swap
    # may still leave old segments whose records were all superseded: stale, consistent.)
    index = SWAP_STEPS.index(step)
    if occurrence == 1 and index < SWAP_STEPS.index("swap-renamed"):
        assert after == sorted(before)
    finishes = SWAP_STEPS.index("swap-renamed") <= index < SWAP_STEPS.index("log-renamed")
    assert ("completed an interrupted segment swap" in caplog.text) == finishes
    assert log.log_end_offset == 360
    # The log goes on, and a full pass leaves exactly the latest value of each key.
    log.append(kv(("key-0", "later")))
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    assert log.clean(clock.now).cleaned
    keys = [key for _, key, _ in entries(log)]
    assert sorted(keys) == sorted(latest)


# ------------------------------------------------------------------ concurrency


def test_passes_in_another_thread_while_appends_reads_and_flushes_go_on(
    disk: Callable[..., DiskLog], clock: FakeClock
) -> None:
    log = disk()
    latest: dict[bytes, Entry] = {}
    stop = threading.Event()
    failures: list[BaseException] = []

    def cleaner() -> None:
        try:
            while not stop.is_set():
                log.clean(clock.now)
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=cleaner)
    thread.start()
    try:
        for i in range(1500):
            key = f"key-{i % 13}"
            result = log.append(kv((key, f"value-{i}")))
            latest[key.encode()] = (result.base_offset, key.encode(), f"value-{i}".encode())
            log.set_high_watermark(log.log_end_offset)
            if i % 50 == 0:
                assert entries(log)[-1] == (result.base_offset, key.encode(), f"value-{i}".encode())
            if i % 100 == 0:
                log.flush()
    finally:
        stop.set()
        thread.join()
    assert not failures
    log.roll()
    log.set_high_watermark(log.log_end_offset)
    log.clean(clock.now)
    assert entries(log) == sorted(latest.values())


def test_a_pass_gives_up_when_retention_or_truncation_changes_its_segments(
    disk: Callable[..., DiskLog], clock: FakeClock, tmp_path: Path
) -> None:
    log = disk()
    fill(log, 200, keys=5)
    expected = entries(log)

    def delete_records(step: str) -> None:
        if step == "cleaned-written":
            log.delete_records_before(log.segment_base_offsets[2])

    result = clean_log(log, clock.now, fault=delete_records)
    assert not result.cleaned and "changed" in result.reason
    start = log.log_start_offset
    assert entries(log) == [e for e in expected if e[0] >= start]
    assert not [n for n in os.listdir(tmp_path / "compacted-0") if n.endswith(".cleaned")]

    def truncate(step: str) -> None:
        if step == "cleaned-written":
            log.truncate_to(log.log_end_offset - 1)

    assert not clean_log(log, clock.now, fault=truncate).cleaned
    assert log.log_end_offset == 199
    assert log.clean(clock.now).cleaned


def test_a_log_closed_or_deleted_during_a_pass_ends_it_quietly(
    disk: Callable[..., DiskLog], clock: FakeClock, tmp_path: Path
) -> None:
    log = disk()
    fill(log, 200, keys=5)
    expected = entries(log)

    def close(step: str) -> None:
        if step == "cleaned-unsynced":
            log.close()

    assert not clean_log(log, clock.now, fault=close).cleaned
    log = disk()
    assert entries(log) == expected
    assert not [n for n in os.listdir(tmp_path / "compacted-0") if ".cleaned" in n]

    def delete(step: str) -> None:
        if step == "cleaned-unsynced":
            log.delete()

    result = clean_log(log, clock.now, fault=delete)
    assert not result.cleaned and "closed" in result.reason
    assert not (tmp_path / "compacted-0").exists()


# ------------------------------------------------------------------ against a model


OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("append"),
            st.lists(
                st.tuples(
                    st.sampled_from("abcdef"), st.one_of(st.none(), st.text("xyz", max_size=3))
                ),
                min_size=1,
                max_size=4,
            ),
        ),
        st.tuples(st.just("roll"), st.none()),
        st.tuples(st.just("clean"), st.none()),
        st.tuples(st.just("wait"), st.integers(0, 2000)),
        st.tuples(st.just("reopen"), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_compaction_agrees_with_a_dict_of_latest_values(
    ops: list[tuple[str, object]],
) -> None:
    """Whatever the interleaving of appends, rolls, passes, time and restarts: every latest
    value is readable at its offset; whatever else is read was written there; a tombstone
    disappears only once delete.retention.ms has passed; and once a pass has run over a part
    of the log, no key appears twice in that part."""
    config = LogConfig(
        cleanup_policy="compact",
        segment_bytes=400,
        index_interval_bytes=64,
        delete_retention_ms=1000,
        min_cleanable_dirty_ratio=0.0,
    )
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "model-0"
        log = DiskLog(directory, config, clock)
        history: dict[int, tuple[bytes, bytes | None]] = {}
        latest: dict[bytes, int] = {}
        tombstone_first_kept: dict[int, int] = {}
        clean_up_to = 0
        try:
            for op, arg in ops:
                if op == "append":
                    pairs = arg
                    assert isinstance(pairs, list)
                    result = log.append(kv(*pairs))
                    for i, (key, value) in enumerate(pairs):
                        offset = result.base_offset + i
                        history[offset] = (key.encode(), None if value is None else value.encode())
                        latest[key.encode()] = offset
                    log.set_high_watermark(log.log_end_offset)
                elif op == "roll":
                    log.roll()
                elif op == "clean":
                    outcome = log.clean(clock.now)
                    if outcome.cleaned:
                        clean_up_to = outcome.first_dirty_offset
                        for offset in latest.values():
                            if offset < clean_up_to and history[offset][1] is None:
                                tombstone_first_kept.setdefault(offset, clock.now)
                elif op == "wait":
                    assert isinstance(arg, int)
                    clock.advance(arg)
                else:
                    log.close()
                    log = DiskLog(directory, config, clock)
                found = entries(log)
                for offset, key, value in found:
                    assert history[offset] == (key, value)
                present = {offset for offset, _, _ in found}
                for offset in latest.values():
                    if offset in present:
                        continue
                    # Only a tombstone may go, and only after its retention.
                    assert history[offset][1] is None
                    assert clock.now - tombstone_first_kept[offset] >= config.delete_retention_ms
                clean_keys = [key for offset, key, _ in found if offset < clean_up_to]
                assert len(clean_keys) == len(set(clean_keys))
        finally:
            log.close()
