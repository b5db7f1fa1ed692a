"""Putting encoded responses on a Kafka connection's socket, with `os.sendfile` for the runs of
segment files a Fetch response carries (`rafka.log.region.FileRegion`).

Most responses are plain buffers and go to `transport.writelines()`. A response holding file
regions is written by us, straight to the socket, but only while the transport has nothing
queued: then nothing can overtake it, and a socket that will not take everything at once (a
slow reader) hands the rest back to the transport, read from the file, in order. Anything that
cannot be sent from a file (TLS, or a transport without a socket) reads the regions into bytes
and writes those: the same bytes either way.

Why: when this was written, 1 MiB pieces of a cached segment cost the sender 415-470 us of CPU
on loopback through `pread` + `send`, and 180 us through `sendfile`; with one Fetch in flight,
that CPU is the serving rate. The same VM later measured the opposite order in isolation
(`benchmarks/send_paths.py`, 2026-11-29 evening: `sendfile` 0.61, a reused `pread` buffer +
`send` 0.45 CPU s/GB, medians of 7 rounds), yet inside the broker the two paths served the raw
Fetch cell alike (4 interleaved pairs, 1,004-1,732 against 1,432-1,534 MB/s), so `sendfile`
stays: it is also the path that does not grow the heap by a response's size.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Sequence

from rafka.broker import FileRegion
from rafka.protocol import ResponseChunk

__all__ = ["ResponseWriter"]

_Buffer = bytes | bytearray | memoryview
_PLAIN = (bytes, bytearray, memoryview)
# Buffers one writev() accepts (Linux: 1024).
_IOV_MAX = os.sysconf("SC_IOV_MAX") if "SC_IOV_MAX" in os.sysconf_names else 1024


class ResponseWriter:
    """Writes response chunks to one connection's transport, in the order given."""

    __slots__ = ("_fd", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._fd = _sendfile_fd(transport)

    def write(self, chunks: Sequence[ResponseChunk]) -> None:
        """Raises OSError if the socket or a segment file fails mid-response (the caller drops
        the connection: the client cannot resynchronise on a half-written response)."""
        for chunk in chunks:
            if not isinstance(chunk, _PLAIN):
                break
        else:
            self._transport.writelines(chunks)  # type: ignore[arg-type]  # all plain buffers
            return
        try:
            if self._fd < 0 or self._transport.get_write_buffer_size():
                self._transport.writelines([_as_buffer(c) for c in chunks])
            else:
                self._write_direct(chunks)
        finally:
            for chunk in chunks:
                if isinstance(chunk, FileRegion):
                    chunk.close()

    def _write_direct(self, chunks: Sequence[ResponseChunk]) -> None:
        """Send from the socket itself while it takes everything; the transport gets the rest."""
        fd = self._fd
        plain: list[_Buffer] = []
        for i, chunk in enumerate(chunks):
            if isinstance(chunk, _PLAIN):
                plain.append(chunk)
                continue
            if plain:
                unsent = _writev(fd, plain)
                plain = []
                if unsent:
                    self._hand_over(unsent, chunks[i:])
                    return
            if not isinstance(chunk, FileRegion):
                plain.append(bytes(chunk))
                continue
            sent = _sendfile(fd, chunk)
            if sent < chunk.size:
                self._hand_over([chunk.read(sent)], chunks[i + 1 :])
                return
        if plain:
            # After the last region: through the transport as usual (it has nothing queued,
            # and everything before is already in the socket).
            self._transport.writelines(plain)

    def _hand_over(self, unsent: list[_Buffer], rest: Sequence[ResponseChunk]) -> None:
        """The socket is full: queue the remainder on the transport, which waits for room."""
        self._transport.writelines([*unsent, *(_as_buffer(c) for c in rest)])


def _sendfile_fd(transport: asyncio.Transport) -> int:
    """The socket descriptor to write to directly, or -1 where only the transport may write
    (TLS, or no TCP socket underneath)."""
    if transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM:
        return -1
    try:
        return int(sock.fileno())
    except (OSError, ValueError):
        return -1


def _as_buffer(chunk: ResponseChunk) -> _Buffer:
    return chunk if isinstance(chunk, _PLAIN) else bytes(chunk)


def _writev(fd: int, buffers: list[_Buffer]) -> list[_Buffer]:
    """Write as much as the socket takes now; returns what it did not take. At most IOV_MAX
    buffers go to one writev (a Fetch response has two per partition)."""
    for start in range(0, len(buffers), _IOV_MAX):
        group = buffers[start : start + _IOV_MAX]
        try:
            written = os.writev(fd, group)
        except BlockingIOError:
            return buffers[start:]
        for i, buffer in enumerate(group):
            size = len(buffer) if not isinstance(buffer, memoryview) else buffer.nbytes
            if written < size:
                return [memoryview(buffer)[written:], *buffers[start + i + 1 :]]
            written -= size
    return []


def _sendfile(fd: int, region: FileRegion) -> int:
    """Send as much of the region as the socket takes now; returns how much that was."""
    sent = 0
    while sent < region.size:
        try:
            n = os.sendfile(fd, region.fd, region.position + sent, region.size - sent)
        except BlockingIOError:
            break
        if n == 0:
            raise OSError(
                errno.EIO,
                f"segment file ended inside a region being sent ({sent} of {region.size} bytes)",
            )
        sent += n
    return sent
