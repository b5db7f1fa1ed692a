"""Running the log cleaner for the broker: which partitions, on which thread, how often.

The broker's housekeeping timer (the one that applies retention, `broker.retention_check_ms`)
calls `trigger()`. That picks, on the event loop, the partitions whose topic compacts, and
hands them to one dedicated worker thread, which cleans them one after another (`PartitionLog
.clean`, Kafka's LogCleaner with one thread). A trigger while a pass is still running does
nothing, so passes never pile up. The heavy work (reading, decoding, writing and fsyncing
segments) happens on that thread; the event loop is only held up while a cleaned segment is
swapped in, under that partition's lock (a few renames and directory fsyncs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from rafka.log import CleanResult, LogClosedError, LogError, PartitionLog

logger = logging.getLogger("rafka.broker")


class LogCleanerService:
    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rafka-cleaner")
        self._running: Future[list[CleanResult]] | None = None
        self._lock = threading.Lock()
        self._stopping = False
        # Totals over the broker's life, for metrics.
        self.passes = 0
        self.partitions_cleaned = 0
        self.bytes_removed = 0
        self.records_removed = 0

    def trigger(self, logs: Sequence[PartitionLog]) -> bool:
        """Start a pass over `logs` in the background unless one is running; True if started."""
        with self._lock:
            if self._stopping or (self._running is not None and not self._running.done()):
                return False
            self._running = self._executor.submit(self.run_pass, list(logs))
            return True

    def run_pass(self, logs: Sequence[PartitionLog]) -> list[CleanResult]:
        """Clean each log in turn, in the calling thread (the worker, or a test)."""
        results: list[CleanResult] = []
        for log in logs:
            if self._stopping:
                break
            try:
                result = log.clean(self._clock())
            except LogClosedError:
                continue  # deleted or closed meanwhile
            except LogError as exc:
                logger.error("log cleaner failed on %r: %s", log, exc)
                continue
            except Exception:
                logger.exception("log cleaner failed on %r", log)
                continue
            results.append(result)
            if result.cleaned:
                self.partitions_cleaned += 1
                self.bytes_removed += result.bytes_before - result.bytes_after
                self.records_removed += result.records_removed
        self.passes += 1
        return results

    def wait(self, timeout: float | None = None) -> list[CleanResult]:
        """The results of the running (or last) background pass, once it is done."""
        running = self._running
        return running.result(timeout) if running is not None else []

    def stop(self) -> None:
        """No new passes; a running one stops after its current partition (whose log, once
        closed, makes it give up at its next batch)."""
        with self._lock:
            self._stopping = True

    def close(self) -> None:
        """Stop and wait for the worker (blocking: call it off the event loop)."""
        self.stop()
        self._executor.shutdown(wait=True)
