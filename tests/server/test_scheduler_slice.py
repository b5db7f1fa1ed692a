"""The broker's event-loop thread asks Linux for a short scheduler slice
(`server.scheduler_slice_us`, `rafka/server/scheduling.py`), and the kernel's own account of
the thread, `/proc/PID/task/TID/sched`, shows it. On kernels without custom slices (before
6.12) or other systems the request does nothing and these tests skip."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.broker_process import BrokerProcess

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or tuple(int(part) for part in re.findall(r"\d+", os.uname().release)[:2]) < (6, 12),
    reason="custom scheduler slices need Linux 6.12 or later",
)


def slice_in(sched: str) -> int:
    """`se.slice` (ns) from the text of a `/proc/.../sched` file."""
    found = re.search(r"^se\.slice\s*:\s*(\d+)", sched, re.MULTILINE)
    if found is None:
        pytest.skip("this kernel's sched file shows no slice")
    return int(found.group(1))


def slice_ns(pid: int, tid: int) -> int:
    return slice_in(Path(f"/proc/{pid}/task/{tid}/sched").read_text())


def kernel_default_slice_ns() -> int:
    """The slice of a process nobody asked anything for."""
    out = subprocess.run(["cat", "/proc/self/sched"], capture_output=True, text=True, check=True)
    return slice_in(out.stdout)


def test_the_event_loop_thread_runs_with_the_configured_slice(tmp_path: Path) -> None:
    with BrokerProcess(tmp_path / "data", "--set", "server.scheduler_slice_us=250") as broker:
        assert broker.proc is not None
        pid = broker.proc.pid
        # The main thread runs the event loop; its task id is the process id.
        assert slice_ns(pid, pid) == 250_000


def test_zero_leaves_the_kernel_default(tmp_path: Path) -> None:
    with BrokerProcess(tmp_path / "data", "--set", "server.scheduler_slice_us=0") as broker:
        assert broker.proc is not None
        pid = broker.proc.pid
        assert slice_ns(pid, pid) == kernel_default_slice_ns()
