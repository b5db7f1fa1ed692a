"""The page-cache write bar for the 1 MiB produce cell, measured like for like beside it.

On this VM the cost of writing into the page cache depends on where the pages come from. The
guest hands pages it has kept free for a few seconds back to the host, and touching such a page
again faults it in from the host; a page freed a moment ago is still the guest's and costs
nothing extra. Measured with dd (2 GiB of 1 MiB writes): 271-359 MB/s into a new file after the
previous one was deleted seconds earlier, 1.1-1.2 GB/s when the same file is written again at
once (the truncate frees the pages and the rewrite takes them straight back).

../shared/bench/physical.py runs its page-cache-only dd first (new pages) and its
fdatasync-at-end dd right after, over the same path (reused pages), so its two figures are
these two cases, not "with and without a sync". A broker appending new data is nearer the
first case, or nearer the second right after deleting a topic (its own buffers recycle pages
too, so it is exactly in neither: see docs/benchmarks.md). So the cell is run both ways and
each pass is compared with dd in the nearer case, measured just before it (`bars`); the
target asks for both.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

#: Long enough for the guest to hand freed pages back to the host (free page reporting waits
#: ~2 s before it reports a freed range).
SETTLE_SECONDS = 5.0
BAR_MIB = 2048  # about what the 1 MiB produce cell writes in its 4 s cap
_DD_SECONDS = re.compile(r"copied, ([0-9.]+) s")


def dd_write(path: Path, mib: int) -> float:
    """MB/s of `mib` sequential 1 MiB buffered writes to `path` (truncated first), by dd."""
    done = subprocess.run(
        ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    match = _DD_SECONDS.search(done.stderr)
    if match is None:
        raise RuntimeError(f"cannot read dd's time from: {done.stderr.strip()}")
    return mib * 2**20 / 1e6 / float(match.group(1))


def bars(directory: Path, mib: int = BAR_MIB) -> dict[str, float]:
    """dd into new pages (after SETTLE_SECONDS), then at once into the pages that freed."""
    path = directory / "page-cache-bar.tmp"
    path.unlink(missing_ok=True)
    time.sleep(SETTLE_SECONDS)
    try:
        new = dd_write(path, mib)
        reused = dd_write(path, mib)  # dd truncates: the first run's pages are freed, reused
    finally:
        path.unlink(missing_ok=True)
    return {"dd_new_pages_mb_per_s": new, "dd_reused_pages_mb_per_s": reused}
