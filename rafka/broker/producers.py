"""Idempotent producers: producer id allocation and per-partition sequence checks.

An idempotent producer (the default in kafka-python 3, the Java client and librdkafka with
`enable.idempotence=true`) numbers its batches per partition. The broker appends a batch only
if its first sequence follows the last one it stored, and answers a retried batch it already
has with the original offsets instead of appending it twice. Like Kafka, the last five batches
of each producer are remembered for that purpose.

Producer ids come from a counter persisted in the data dir in blocks, so ids are never reused
across restarts. What is *not* persisted yet is the sequence state itself: after a restart a
producer's next batch is accepted whatever its sequence (Kafka would rebuild the state from
the log); a retry that straddles a broker restart can therefore be appended twice.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from rafka.broker.errors import BrokerError
from rafka.records import BatchHeader

PRODUCER_ID_BLOCK = 1000
BATCHES_REMEMBERED = 5
INT32_MAX = 2**31 - 1


class OutOfOrderSequenceError(BrokerError):
    pass


class InvalidProducerEpochError(BrokerError):
    pass


@dataclass(frozen=True, slots=True)
class StoredBatch:
    first_sequence: int
    last_sequence: int
    base_offset: int
    last_offset: int


@dataclass(slots=True)
class ProducerEntry:
    epoch: int
    batches: deque[StoredBatch] = field(default_factory=lambda: deque(maxlen=BATCHES_REMEMBERED))

    @property
    def last_sequence(self) -> int:
        return self.batches[-1].last_sequence if self.batches else -1


def _next_sequence(sequence: int) -> int:
    return 0 if sequence == INT32_MAX else sequence + 1


class PartitionProducerState:
    """Sequence bookkeeping for one partition."""

    def __init__(self) -> None:
        self._producers: dict[int, ProducerEntry] = {}

    def check(self, header: BatchHeader) -> StoredBatch | None:
        """Before appending: None to go ahead, the stored batch if this one is a duplicate.
        Raises OutOfOrderSequenceError / InvalidProducerEpochError."""
        entry = self._producers.get(header.producer_id)
        if entry is None:
            return None
        if header.producer_epoch < entry.epoch:
            raise InvalidProducerEpochError(
                f"producer {header.producer_id} epoch {header.producer_epoch} is older than "
                f"{entry.epoch}"
            )
        if header.producer_epoch > entry.epoch:
            return None  # a new epoch restarts its sequences
        last_sequence = header.base_sequence + header.last_offset_delta
        for stored in entry.batches:
            if (stored.first_sequence, stored.last_sequence) == (
                header.base_sequence,
                last_sequence,
            ):
                return stored
        if header.base_sequence != _next_sequence(entry.last_sequence):
            raise OutOfOrderSequenceError(
                f"producer {header.producer_id} sent sequence {header.base_sequence}; "
                f"expected {_next_sequence(entry.last_sequence)}"
            )
        return None

    def record(self, header: BatchHeader, base_offset: int, last_offset: int) -> None:
        entry = self._producers.get(header.producer_id)
        if entry is None or header.producer_epoch > entry.epoch:
            entry = self._producers[header.producer_id] = ProducerEntry(header.producer_epoch)
        entry.batches.append(
            StoredBatch(
                header.base_sequence,
                header.base_sequence + header.last_offset_delta,
                base_offset,
                last_offset,
            )
        )


class ProducerIdAllocator:
    """Hands out producer ids; persists the end of the current block before using it."""

    def __init__(self, directory: Path | None) -> None:
        self._path = directory / "producer-ids" if directory is not None else None
        self._next = 0
        self._block_end = 0
        if self._path is not None and self._path.exists():
            self._next = self._block_end = int(self._path.read_text().strip() or 0)

    def allocate(self) -> int:
        if self._next >= self._block_end:
            self._block_end = self._next + PRODUCER_ID_BLOCK
            if self._path is not None:
                tmp = self._path.with_suffix(".tmp")
                with open(tmp, "w") as file:
                    file.write(f"{self._block_end}\n")
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(tmp, self._path)
        producer_id = self._next
        self._next += 1
        return producer_id
