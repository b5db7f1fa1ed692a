"""Sans-IO framing of the Kafka byte stream: 4-byte big-endian size prefix, then the frame.

Both directions of Kafka use the same framing, so `FrameDecoder` serves the broker (requests)
and `client_codec` users (responses). Nothing here knows what a frame contains.

Buffering: received bytes are appended to one `bytearray`; a read position walks it, and the
consumed prefix is dropped only occasionally, so many small pipelined frames cost O(1) each
and a large frame arriving in pieces costs O(size) (no quadratic re-copying). A complete frame
is normally returned as a `bytes` copy (its own object, safe to keep). When a large frame is the
last thing in the buffer (the usual case for a big Produce request) the buffer itself is handed
over as a read-only `memoryview` and a fresh buffer is started, so that frame is never copied.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from rafka.protocol.errors import FrameTooLargeError, InvalidFrameError

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "FrameDecoder", "frame_size_prefix"]

#: Kafka's socket.request.max.bytes default (100 MiB).
DEFAULT_MAX_FRAME_BYTES = 100 * 1024 * 1024

_SIZE = struct.Struct(">i")
# Frames at least this large that end exactly at the end of the buffer are handed over without
# a copy; smaller ones are copied (cheaper than allocating a new buffer for every frame).
_HANDOFF_MIN_BYTES = 64 * 1024
# Copy frames at least this large through a memoryview (one copy instead of two).
_VIEW_COPY_MIN_BYTES = 16 * 1024
# Drop the consumed prefix once it is this large and at least half the buffer.
_COMPACT_MIN_BYTES = 256 * 1024


def frame_size_prefix(size: int) -> bytes:
    """The 4-byte big-endian size prefix for a frame of `size` bytes."""
    return _SIZE.pack(size)


def _copy(buf: bytearray, start: int, end: int) -> bytes:
    if end - start < _VIEW_COPY_MIN_BYTES:
        return bytes(buf[start:end])  # two small copies beat creating a view
    with memoryview(buf) as view:
        return view[start:end].tobytes()


class FrameDecoder:
    """Split a byte stream into size-prefixed frames.

    `feed()` the bytes as they arrive, then call `next_frame()` until it returns None (or
    iterate with `frames()`). A frame whose size prefix is negative raises `InvalidFrameError`;
    one larger than `max_frame_bytes` raises `FrameTooLargeError` as soon as its prefix has
    arrived (before its body is buffered). After such an error the stream is unusable: every
    later call raises the same error, and the caller should close the connection.
    """

    __slots__ = ("_buf", "_error", "_pos", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 0:
            raise ValueError("max_frame_bytes must be >= 0")
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._pos = 0
        self._error: InvalidFrameError | FrameTooLargeError | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes received but not yet returned as part of a frame (prefixes included)."""
        return len(self._buf) - self._pos

    @property
    def pending_frame_size(self) -> int | None:
        """The size of the frame being received, once its prefix is in; else None."""
        if len(self._buf) - self._pos < 4:
            return None
        return int(_SIZE.unpack_from(self._buf, self._pos)[0])

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes (copied; the caller may reuse `data`)."""
        if self._error is not None:
            raise self._error
        if data:
            self._buf += data

    def next_frame(self) -> bytes | memoryview | None:
        """The next complete frame without its size prefix, or None if more bytes are needed.

        The result is read-only and stays valid after later `feed()` calls.
        """
        if self._error is not None:
            raise self._error
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if available < 4:
            return None
        size: int = _SIZE.unpack_from(buf, pos)[0]
        if size < 0:
            self._error = InvalidFrameError(size)
            raise self._error
        if size > self.max_frame_bytes:
            self._error = FrameTooLargeError(size, self.max_frame_bytes)
            raise self._error
        if available - 4 < size:
            return None
        start = pos + 4
        end = start + size
        frame: bytes | memoryview
        if end == len(buf):
            if size >= _HANDOFF_MIN_BYTES:
                # Hand the whole buffer over; nobody will resize it again.
                frame = memoryview(buf).toreadonly()[start:end]
                self._buf = bytearray()
            else:
                frame = _copy(buf, start, end)
                buf.clear()
            self._pos = 0
            return frame
        frame = _copy(buf, start, end)
        self._pos = end
        if end >= _COMPACT_MIN_BYTES and end * 2 >= len(buf):
            del buf[:end]
            self._pos = 0
        return frame

    def frames(self) -> Iterator[bytes | memoryview]:
        """Every complete frame currently buffered."""
        while (frame := self.next_frame()) is not None:
            yield frame
