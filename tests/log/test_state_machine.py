"""Random sequences of log operations checked against a plain model (a list of batches).

Both engines run the same machine; the disk engine also restarts (clean and crashed) and
crashes with a torn tail. The model keeps, per batch, its offsets, its record values and the
leader epoch it was appended under, and the expected log start offset and epoch cache.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rafka.log import DiskLog, LogConfig, MemoryLog, OffsetOutOfRangeError, PartitionLog
from rafka.records import BatchTooLargeError, decode_batches, iter_batches
from tests.log.helpers import FakeClock, joined, make_batch

CONFIG = LogConfig(segment_bytes=3000, index_interval_bytes=200, segment_index_bytes=120)


@dataclass(frozen=True)
class ModelBatch:
    base: int
    count: int
    tag: int
    epoch: int
    size: int

    @property
    def last(self) -> int:
        return self.base + self.count - 1


class LogMachine(RuleBasedStateMachine):
    engine = "disk"

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.directory = Path(tempfile.mkdtemp(prefix="rafka-sm-")) / "t-0"
        self.log: PartitionLog = self._open()
        self.batches: list[ModelBatch] = []
        self.start = 0
        self.end = 0
        self.epoch = 0
        self.epochs: list[tuple[int, int]] = []
        self.next_tag = 0

    def _open(self) -> PartitionLog:
        if self.engine == "disk":
            return DiskLog(self.directory, CONFIG, self.clock)
        return MemoryLog(CONFIG, self.clock)

    def teardown(self) -> None:
        self.log.close()
        shutil.rmtree(self.directory.parent, ignore_errors=True)

    # ------------------------------------------------------------ model helpers

    def _drop_from(self, offset: int) -> None:
        """The model after losing every batch with a last offset >= `offset`: the log then
        ends where the first lost batch began."""
        dropped = [b for b in self.batches if b.last >= offset]
        if dropped:
            self.end = dropped[0].base
            self.batches = [b for b in self.batches if b.last < offset]
        self.epochs = [(e, s) for e, s in self.epochs if s < self.end]

    def _visible(self) -> list[ModelBatch]:
        return [b for b in self.batches if b.last >= self.start]

    # -------------------------------------------------------------------- rules

    @rule(
        count=st.integers(1, 4),
        value_size=st.integers(0, 400),
        bump_epoch=st.booleans(),
        batches=st.integers(1, 2),
    )
    def append(self, count: int, value_size: int, bump_epoch: bool, batches: int) -> None:
        epoch = self.epoch + 1 if bump_epoch else self.epoch
        data = b""
        planned = []
        base = self.end
        for _ in range(batches):
            tag = self.next_tag
            self.next_tag += 1
            batch = make_batch(count=count, value_size=value_size, tag=tag, timestamp=tag)
            data += batch
            planned.append(ModelBatch(base, count, tag, epoch, len(batch)))
            base += count
        if len(data) > CONFIG.segment_bytes:
            with pytest.raises(BatchTooLargeError):
                self.log.append(data, leader_epoch=self.epoch)
            self.next_tag -= batches
            return
        self.epoch = epoch
        result = self.log.append(data, leader_epoch=self.epoch)
        assert (result.base_offset, result.last_offset) == (self.end, base - 1)
        if not self.epochs or self.epochs[-1][0] != self.epoch:
            # A new epoch replaces any entry it does not follow (Kafka's assign).
            self.epochs = [(e, s) for e, s in self.epochs if e < self.epoch and s < self.end]
            self.epochs.append((self.epoch, self.end))
        self.batches.extend(planned)
        self.end = base
        self.log.set_high_watermark(self.end)

    @rule(data=st.data(), max_bytes=st.integers(0, 5000), min_one=st.booleans())
    def read(self, data: st.DataObject, max_bytes: int, min_one: bool) -> None:
        offset = data.draw(st.integers(self.start, self.end))
        result = self.log.read(offset, max_bytes, min_one_batch=min_one)
        got = [(h.base_offset, h.last_offset) for _, h in iter_batches(joined(result.chunks))]
        assert sum(len(c) for c in result.chunks) == result.size
        expected = [b for b in self.batches if b.last >= offset]
        assert got == [(b.base, b.last) for b in expected[: len(got)]]
        if got:
            assert result.size <= max_bytes or (len(got) == 1 and min_one)
        if expected and min_one:
            assert got, "min_one_batch read returned nothing"
        if len(got) < len(expected):
            # Stopped early only because the next whole batch would not fit.
            assert result.size + expected[len(got)].size > max_bytes
        records = decode_batches(joined(result.chunks))
        for record in records:
            batch = next(b for b in self.batches if b.base <= record.offset <= b.last)
            assert record.value is not None
            assert record.value.startswith(f"{batch.tag}:{record.offset - batch.base}:".encode())
        # Out-of-range reads are refused.
        for bad in (self.start - 1, self.end + 1):
            if bad >= 0:
                try:
                    self.log.read(bad, 100)
                except OffsetOutOfRangeError:
                    pass
                else:
                    raise AssertionError(f"read at {bad} outside [{self.start}, {self.end}]")

    @rule()
    def roll(self) -> None:
        self.log.roll()

    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        offset = data.draw(st.integers(max(self.start - 2, 0), self.end + 2))
        self.log.truncate_to(offset)
        if offset >= self.end:
            return
        if offset <= self.start:
            self.batches = []
            self.start = self.end = offset
            self.epochs = []
        else:
            self._drop_from(offset)
            self.start = min(self.start, self.end)

    def _advance_start(self, offset: int) -> None:
        if offset > self.start:
            self.start = offset
            below = [(e, s) for e, s in self.epochs if s <= offset]
            if below:
                self.epochs = [(below[-1][0], offset)] + [
                    (e, s) for e, s in self.epochs if s > offset
                ]

    @rule(data=st.data())
    def delete_records(self, data: st.DataObject) -> None:
        offset = data.draw(st.integers(self.start, self.end))
        assert self.log.delete_records_before(offset) == max(offset, self.start)
        self._advance_start(offset)

    @rule(limit=st.integers(0, 8000))
    def retention_by_size(self, limit: int) -> None:
        self.log.update_config(dataclasses.replace(CONFIG, retention_bytes=limit))
        before = self.log.segment_count
        deleted = self.log.apply_retention(self.clock.now)
        self.log.update_config(CONFIG)
        assert self.log.segment_count == before - deleted >= 1
        if deleted:
            # Whole segments went: the log now starts at a batch boundary the model knows.
            first = self.log.segment_base_offsets[0]
            assert first == self.end or any(b.base == first for b in self.batches)
            self._advance_start(first)

    @precondition(lambda self: self.engine == "disk")
    @rule(clean=st.booleans(), flush=st.booleans())
    def restart(self, clean: bool, flush: bool) -> None:
        assert isinstance(self.log, DiskLog)
        if clean:
            self.log.close()
        else:
            if flush:
                self.log.flush()
            self.log._abandon()
        self.log = self._open()
        self.log.set_high_watermark(self.end)
        # Loading drops epoch entries at or past the log end (Kafka's truncateFromEnd).
        self.epochs = [(e, s) for e, s in self.epochs if s < self.end]

    @precondition(lambda self: self.engine == "disk")
    @rule(data=st.data())
    def crash_with_torn_tail(self, data: st.DataObject) -> None:
        assert isinstance(self.log, DiskLog)
        self.log._abandon()
        segment = sorted(self.directory.glob("*.log"))[-1]
        positions = [(pos, h) for pos, h in iter_batches(segment.read_bytes())]
        if positions:
            position, header = positions[-1]
            cut = data.draw(st.integers(1, header.size - 1))
            os.truncate(segment, position + header.size - cut)
            self._drop_from(header.base_offset)
        self.log = self._open()
        self.log.set_high_watermark(self.end)
        if self.start > self.end:
            # The log start was inside the lost batch: the log restarts empty there.
            self.end = self.start
            self.epochs = []
        self.epochs = [(e, s) for e, s in self.epochs if s < self.end]

    # ---------------------------------------------------------------- invariants

    @invariant()
    def offsets_match(self) -> None:
        assert self.log.log_start_offset == self.start
        assert self.log.log_end_offset == self.end
        assert list(self.log.leader_epoch_start_offsets()) == self.epochs
        # Segments may still hold batches below the log start offset, never fewer bytes.
        assert self.log.size_bytes >= sum(b.size for b in self._visible())

    @invariant()
    def contents_match(self) -> None:
        result = self.log.read(self.start, 1 << 30)
        got = [
            (h.base_offset, h.last_offset, h.partition_leader_epoch)
            for _, h in iter_batches(joined(result.chunks))
        ]
        assert got == [(b.base, b.last, b.epoch) for b in self._visible()]


class MemoryLogMachine(LogMachine):
    engine = "in_memory"


TestDiskLogMachine = LogMachine.TestCase
TestDiskLogMachine.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestMemoryLogMachine = MemoryLogMachine.TestCase
TestMemoryLogMachine.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
