"""Broker CPU time and peak RSS from /proc, the way ../shared/bench measures its peers.

CPU is utime + stime of every thread (`/proc/PID/stat`); peak RSS is `VmHWM` from
`/proc/PID/status`, reset to the current RSS before each workload by writing 5 to
`/proc/PID/clear_refs`, so each workload reports its own peak.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from rafka.bench._results import BrokerCost

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """This process's CPU time (user + system): what a benchmark client spent."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no VmHWM in /proc/{pid}/status")


def reset_peak_rss(pid: int) -> None:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


@dataclass(slots=True)
class CostMeter:
    """Filled in when the `BrokerProbe.measure()` block ends."""

    cost: BrokerCost | None = field(default=None)


class BrokerProbe:
    """Measures one broker process; a probe without a pid measures nothing."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    @contextlib.contextmanager
    def measure(self) -> Iterator[CostMeter]:
        meter = CostMeter()
        if self.pid is None:
            yield meter
            return
        reset_peak_rss(self.pid)
        start = cpu_seconds(self.pid)
        yield meter
        meter.cost = BrokerCost(cpu_seconds(self.pid) - start, peak_rss_mb(self.pid))
