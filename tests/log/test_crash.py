"""A real crash: a child process appends in a loop (flush.messages=1, fsync before each
acknowledgement) and is killed with SIGKILL mid-stream. Every batch it acknowledged must be
there after recovery, byte for byte, and the log must go on from there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from rafka.log import DiskLog, LogConfig
from tests.log.helpers import read_all

CONFIG = LogConfig(flush_messages=1, segment_bytes=16 * 1024, index_interval_bytes=512)

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from rafka.log import DiskLog, LogConfig
    from rafka.records import Record, build_batch

    config = LogConfig(flush_messages=1, segment_bytes=16 * 1024, index_interval_bytes=512)
    log = DiskLog(Path(sys.argv[1]), config)
    n = log.log_end_offset
    print("ready", n, flush=True)
    while True:
        value = b"value-%d-" % n + b"x" * (n % 700)
        records = [Record(b"key-%d" % (n + i), value, (), 1_700_000_000_000 + n) for i in range(3)]
        result = log.append(build_batch(records))
        if log.needs_flush(0):
            log.flush()
        print(result.base_offset, result.last_offset, flush=True)
        n = result.last_offset + 1
    """
)


def _run_and_kill(directory: Path, acks_wanted: int) -> list[tuple[int, int]]:
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory)],
        stdout=subprocess.PIPE,
        text=True,
    )
    acked: list[tuple[int, int]] = []
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("ready")
        deadline = time.monotonic() + 30
        while len(acked) < acks_wanted and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            base, last = map(int, line.split())
            acked.append((base, last))
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    # Lines printed before the kill landed are acknowledgements too.
    assert process.stdout is not None
    for line in process.stdout.read().splitlines():
        parts = line.split()
        if len(parts) == 2:
            acked.append((int(parts[0]), int(parts[1])))
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    return acked


def test_acknowledged_batches_survive_sigkill(tmp_path: Path) -> None:
    directory = tmp_path / "crash-0"
    all_acked: list[tuple[int, int]] = []
    for _round in range(2):
        acked = _run_and_kill(directory, acks_wanted=150)
        assert len(acked) >= 150
        all_acked.extend(acked)
        log = DiskLog(directory, CONFIG)
        try:
            assert not log.clean_shutdown
            assert log.segment_count > 1
            records = read_all(log)
            by_offset = {r.offset: r for r in records}
            for base, last in all_acked:
                for offset in range(base, last + 1):
                    record = by_offset[offset]
                    assert record.key == b"key-%d" % offset
                    assert record.value is not None
                    assert record.value.startswith(b"value-%d-" % base)
            assert [r.offset for r in records] == list(range(len(records)))
            assert log.log_end_offset >= all_acked[-1][1] + 1
        finally:
            log.close()
