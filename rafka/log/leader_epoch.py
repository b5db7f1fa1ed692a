"""The leader-epoch cache: which leader epoch started at which offset (Kafka's
LeaderEpochFileCache), for OffsetForLeaderEpoch and, later, follower truncation.

An entry (epoch, start offset) is added when an append arrives with an epoch newer than the
latest one. The cache follows the log: truncating the log's tail drops the epochs that started
in it, advancing the log start offset moves the oldest surviving epoch up to it. Every change
is written through to the checkpoint file (when there is one) before the method returns;
changes are rare (a leader election, a truncation), so this costs nothing on the append path.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable

from rafka.log.checkpoint import LeaderEpochCheckpointFile

logger = logging.getLogger("rafka.log")

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


class LeaderEpochCache:
    def __init__(
        self,
        checkpoint: LeaderEpochCheckpointFile | None = None,
        entries: Iterable[tuple[int, int]] = (),
    ) -> None:
        self._checkpoint = checkpoint
        self._epochs: list[int] = []
        self._starts: list[int] = []
        for epoch, start in entries:
            self._assign(epoch, start)

    def entries(self) -> list[tuple[int, int]]:
        return list(zip(self._epochs, self._starts, strict=True))

    @property
    def latest_epoch(self) -> int:
        return self._epochs[-1] if self._epochs else UNDEFINED_EPOCH

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that `epoch` starts at `start_offset`; True if the cache changed.

        As in Kafka, an entry that is not newer than the latest one in both epoch and offset
        first removes the entries it conflicts with. Negative epochs are ignored.
        """
        if epoch < 0 or start_offset < 0:
            return False
        if self._epochs and self._epochs[-1] == epoch and self._starts[-1] <= start_offset:
            return False
        self._assign(epoch, start_offset)
        self._persist()
        return True

    def _assign(self, epoch: int, start_offset: int) -> None:
        removed = 0
        while self._epochs and (self._epochs[-1] >= epoch or self._starts[-1] >= start_offset):
            self._epochs.pop()
            self._starts.pop()
            removed += 1
        if removed:
            logger.warning(
                "leader epoch %d at offset %d replaced %d later cache entries",
                epoch,
                start_offset,
                removed,
            )
        self._epochs.append(epoch)
        self._starts.append(start_offset)

    def truncate_from_end(self, end_offset: int) -> None:
        """Drop epochs that start at or after `end_offset` (the log was truncated there)."""
        keep = bisect.bisect_left(self._starts, end_offset)
        if keep < len(self._starts):
            del self._epochs[keep:]
            del self._starts[keep:]
            self._persist()

    def truncate_from_start(self, start_offset: int) -> None:
        """The log now starts at `start_offset`: the latest epoch that started at or before it
        is kept and moved up to start there; older ones go."""
        last_below = bisect.bisect_right(self._starts, start_offset) - 1
        if last_below < 0 or (last_below == 0 and self._starts[0] == start_offset):
            return
        del self._epochs[:last_below]
        del self._starts[:last_below]
        self._starts[0] = start_offset
        self._persist()

    def clear(self) -> None:
        if self._epochs:
            self._epochs.clear()
            self._starts.clear()
            self._persist()

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch, exactly as Kafka's LeaderEpochFileCache.endOffsetFor:

        - the latest epoch ends at the log end offset;
        - an older epoch ends where the next newer epoch starts, and the answer names the
          largest known epoch <= the requested one;
        - an epoch older than every entry gets (requested epoch, start of the oldest entry),
          since its data is gone and a follower must start from there;
        - an unknown newer epoch, or an empty cache, gets (-1, -1).
        """
        if epoch == UNDEFINED_EPOCH or not self._epochs:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if epoch == self._epochs[-1]:
            return epoch, log_end_offset
        higher = bisect.bisect_right(self._epochs, epoch)
        if higher == len(self._epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return epoch, self._starts[0]
        return self._epochs[higher - 1], self._starts[higher]

    def _persist(self) -> None:
        if self._checkpoint is not None:
            self._checkpoint.write(self.entries())
