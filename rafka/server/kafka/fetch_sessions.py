"""KIP-227 incremental fetch sessions.

A consumer fetching many partitions opens a session with a full fetch (epoch 0); after that it
sends only the partitions whose position changed, and the broker answers only the partitions
with something new (data, a moved high watermark or log start, an error). The cache is bounded:
the least recently used session is evicted, and its owner falls back to a full fetch after a
FETCH_SESSION_ID_NOT_FOUND, as the protocol intends.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

INITIAL_EPOCH = 0
FINAL_EPOCH = -1
DEFAULT_MAX_SESSIONS = 1000


@dataclass(slots=True)
class CachedPartition:
    topic: str
    topic_id: uuid.UUID | None
    partition: int
    fetch_offset: int
    max_bytes: int
    # What the client was last told, to decide whether an incremental response includes this.
    high_watermark: int = -1
    log_start_offset: int = -1


@dataclass(slots=True)
class FetchSession:
    session_id: int
    # The epoch the next request must carry.
    next_epoch: int = 1
    partitions: dict[tuple[str, int], CachedPartition] = field(default_factory=dict)
    last_used: float = field(default_factory=time.monotonic)


class FetchSessionCache:
    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[int, FetchSession] = OrderedDict()
        self._max_sessions = max_sessions
        # Random start so ids from before a broker restart are unlikely to collide.
        self._ids = itertools.count(random.randint(1, 2**30))

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self) -> FetchSession:
        while len(self._sessions) >= self._max_sessions:
            self._sessions.popitem(last=False)
        session_id = next(self._ids) % (2**31 - 1) or next(self._ids)
        session = FetchSession(session_id)
        self._sessions[session_id] = session
        return session

    def get(self, session_id: int) -> FetchSession | None:
        session = self._sessions.get(session_id)
        if session is not None:
            self._sessions.move_to_end(session_id)
            session.last_used = time.monotonic()
        return session

    def remove(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def forget_topic(self, topic: str) -> None:
        """Drop a deleted topic's partitions from every session."""
        for session in self._sessions.values():
            for key in [key for key in session.partitions if key[0] == topic]:
                del session.partitions[key]
