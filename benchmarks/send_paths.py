#!/usr/bin/env python3
"""What it costs the kernel to send cached file bytes over loopback, four ways.

    .venv/bin/python benchmarks/send_paths.py            # 5 rounds of 4 x 256 MiB per way

The disk engine serves large reads with `sendfile` from the segment file; the memory engine
hands its own buffers to `writev`. This sends the same 256 MiB, in 1 MiB pieces, to a reader
thread in this process and reports the sending thread's CPU seconds per GB and the wall rate:

- `memory`:   `send` from bytes already in the process (the memory engine's case);
- `sendfile`: `sendfile` from the page cache (the disk engine's case);
- `pread`:    `preadv` into one reused buffer, then `send` (a copy out of the page cache);
- `splice`:   `splice` into a 1 MiB pipe, then from the pipe into the socket (`sendfile` itself
  goes through a 16-page pipe, 64 KiB at a time).

The ways run in turn within each round, so the machine's drift hits them alike; compare the
medians. The file is written once to a temporary directory and read back before timing, so
every way reads from the page cache.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

SIZE = 256 << 20
PIECE = 1 << 20
F_SETPIPE_SZ = 1031  # <linux/fcntl.h>
WAYS = ("memory", "sendfile", "pread", "splice")


def drain(conn: socket.socket, total: int) -> None:
    buf = bytearray(PIECE)
    got = 0
    while got < total:
        n = conn.recv_into(buf)
        if not n:
            return
        got += n


def sender(way: str, fd: int, data: bytes, out: socket.socket) -> Callable[[int, int], None]:
    """A function sending bytes [offset, offset + n) of the file one way."""
    sock = out.fileno()
    if way == "memory":
        view = memoryview(data)
        return lambda offset, n: out.sendall(view[offset : offset + n])
    if way == "sendfile":

        def send_file(offset: int, n: int) -> None:
            done = 0
            while done < n:
                done += os.sendfile(sock, fd, offset + done, n - done)

        return send_file
    if way == "pread":
        buf = memoryview(bytearray(PIECE))

        def pread_send(offset: int, n: int) -> None:
            got = os.preadv(fd, [buf[:n]], offset)
            out.sendall(buf[:got])

        return pread_send
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, PIECE)

    def splice_send(offset: int, n: int) -> None:
        done = 0
        while done < n:
            moved = os.splice(fd, write_end, n - done, offset_src=offset + done)
            done += moved
            while moved:
                moved -= os.splice(read_end, sock, moved)

    return splice_send


def one_way(way: str, fd: int, data: bytes, passes: int) -> tuple[float, float]:
    """(sender CPU s/GB, wall GB/s) for `passes` sends of the whole file."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        out = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
    total = SIZE * passes
    reader = threading.Thread(target=drain, args=(conn, total))
    reader.start()
    send = sender(way, fd, data, out)
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for _ in range(passes):
        for offset in range(0, SIZE, PIECE):
            send(offset, PIECE)
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    reader.join()
    out.close()
    conn.close()
    return cpu / (total / 1e9), total / 1e9 / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--passes", type=int, default=4, help="sends of the 256 MiB file per way")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blob"
        path.write_bytes(os.urandom(PIECE) * (SIZE // PIECE))
        data = path.read_bytes()  # also brings the file into the page cache
        fd = os.open(path, os.O_RDONLY)
        try:
            figures: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
            for r in range(a.rounds):
                for way in WAYS:
                    figures[way].append(one_way(way, fd, data, a.passes))
                print(f"round {r + 1}: " + "  ".join(
                    f"{way} {figures[way][-1][0]:.3f}" for way in WAYS) + "  (CPU s/GB)")
        finally:
            os.close(fd)
    print(f"medians of {a.rounds} rounds, sending thread:")
    for way in WAYS:
        cpu = statistics.median(f[0] for f in figures[way])
        rate = statistics.median(f[1] for f in figures[way])
        print(f"  {way:9} {cpu:.3f} CPU s/GB   {rate:.2f} GB/s")


if __name__ == "__main__":
    main()
