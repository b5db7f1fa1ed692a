"""Keep freed memory in the broker process instead of handing it back to the kernel.

A broker allocates and frees buffers of up to a request's size all the time (socket reads,
frames, the copy a batch is stamped in). glibc serves allocations above 128 KiB with a fresh
`mmap` and returns them with `munmap`, and trims the heap top whenever 128 KiB are free, so
those buffers come back as brand-new pages every time. A fresh page costs a page fault and
zeroing, and on VMs that hand freed guest memory back to the host (free page reporting, as on
the machine the benchmarks run on) much more: measured there, writing 500 MiB into fresh pages
took 1.8 s of system time against 0.06-0.14 s into reused ones.

Raising the mmap and trim thresholds keeps freed buffers in the heap, warm, for the next
request. Measured with `rafka bench produce` (1,000,000 x 100 B, acks=1): broker system time
250-590 ms -> 120-160 ms, throughput 520k -> 770k msg/s, peak RSS unchanged (~90 MB): the heap
holds on to about one request's worth of buffers, not the data stored (that is in the page
cache, or in the in-memory engine's own buffers).

Only glibc has `mallopt`; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger("rafka.server")

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

# Allocations below this come from the heap (glibc's ceiling for the threshold is 32 MiB on
# 64-bit), so every request-sized buffer (max.request.size defaults to 100 MiB, but producers
# send ~1 MiB) is reused; larger ones still get their own mapping.
MMAP_THRESHOLD = 32 * 1024 * 1024
# Trim the heap top only once this much of it is free; with TOP_PAD the heap grows in large
# steps instead of one brk per request.
TRIM_THRESHOLD = 64 * 1024 * 1024
TOP_PAD = 16 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Apply the thresholds above; True if this is glibc and it accepted them."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_TOP_PAD, TOP_PAD),
        )
    )
    if not ok:
        logger.info("mallopt refused the broker's malloc thresholds; using the defaults")
    return ok
