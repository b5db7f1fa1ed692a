"""FrameDecoder: size-prefixed frames out of arbitrarily split byte streams."""

from __future__ import annotations

import itertools
import os
import struct
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.serial import entity_reader

from rafka.protocol import (
    DEFAULT_MAX_FRAME_BYTES,
    FrameDecoder,
    FrameTooLargeError,
    InvalidFrameError,
    frame_size_prefix,
)
from tests.protocol.protocol_strategies import quick


def framed(payload: bytes) -> bytes:
    return frame_size_prefix(len(payload)) + payload


def drain(decoder: FrameDecoder) -> list[bytes]:
    return [bytes(frame) for frame in decoder.frames()]


def test_default_limit_is_kafkas_socket_request_max_bytes() -> None:
    assert DEFAULT_MAX_FRAME_BYTES == 104857600
    assert FrameDecoder().max_frame_bytes == DEFAULT_MAX_FRAME_BYTES


def test_one_frame_then_need_more() -> None:
    decoder = FrameDecoder()
    assert decoder.next_frame() is None
    decoder.feed(framed(b"hello") + b"\x00\x00")
    assert decoder.next_frame() == b"hello"
    assert decoder.next_frame() is None
    assert decoder.buffered_bytes == 2
    assert decoder.pending_frame_size is None
    decoder.feed(b"\x00\x03ab")
    assert decoder.pending_frame_size == 3
    assert decoder.next_frame() is None
    decoder.feed(b"c")
    assert decoder.next_frame() == b"abc"
    assert decoder.buffered_bytes == 0


def test_pipelined_frames_and_empty_frame() -> None:
    decoder = FrameDecoder()
    decoder.feed(framed(b"a") + framed(b"") + framed(b"bb"))
    assert drain(decoder) == [b"a", b"", b"bb"]


def test_byte_by_byte() -> None:
    payloads = [os.urandom(n) for n in (0, 1, 7, 300)]
    stream = b"".join(framed(p) for p in payloads)
    decoder = FrameDecoder()
    got: list[bytes] = []
    for i in range(len(stream)):
        decoder.feed(stream[i : i + 1])
        got += drain(decoder)
    assert got == payloads


@quick
@given(
    payloads=st.lists(st.binary(max_size=300), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_random_split_points(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(framed(p) for p in payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    decoder = FrameDecoder()
    got: list[bytes] = []
    for start, end in itertools.pairwise(points):
        decoder.feed(memoryview(stream)[start:end])
        got += drain(decoder)
    assert got == payloads
    assert decoder.buffered_bytes == 0


@quick
@given(
    sizes=st.lists(st.sampled_from([0, 1, 100, 70_000, 300_000]), min_size=1, max_size=6),
    piece=st.sampled_from([1000, 65536, 1 << 20]),
)
def test_large_and_small_frames_in_pieces(sizes: list[int], piece: int) -> None:
    payloads = [os.urandom(n) for n in sizes]
    stream = b"".join(framed(p) for p in payloads)
    decoder = FrameDecoder()
    frames: list[bytes | memoryview] = []
    for i in range(0, len(stream), piece):
        decoder.feed(stream[i : i + piece])
        frames += decoder.frames()
    # Frames must stay intact after later feeds (handed-over buffers are never reused).
    assert [bytes(f) for f in frames] == payloads


def test_large_frame_is_handed_over_without_copy_and_read_only() -> None:
    payload = os.urandom(200_000)
    decoder = FrameDecoder()
    stream = framed(payload)
    for i in range(0, len(stream), 4096):
        decoder.feed(stream[i : i + 4096])
    frame = decoder.next_frame()
    assert isinstance(frame, memoryview)
    assert frame.readonly
    decoder.feed(framed(b"next"))
    assert decoder.next_frame() == b"next"
    assert bytes(frame) == payload


def test_frames_are_accepted_by_kios_native_reader() -> None:
    # kio refuses writable buffers; both frame kinds must be read-only.
    body = b"\x02x\x021\x00"
    small = FrameDecoder()
    small.feed(framed(body) + framed(body))
    big = FrameDecoder()
    big.feed(framed(body + bytes(100_000)))
    read = entity_reader(ApiVersionsRequest)
    for frame in [*small.frames(), big.next_frame()]:
        assert frame is not None
        assert read(frame, 0)[0].client_software_name == "x"


def test_negative_size_is_invalid_and_sticky() -> None:
    decoder = FrameDecoder()
    decoder.feed(framed(b"ok") + struct.pack(">i", -1) + b"junk")
    assert decoder.next_frame() == b"ok"
    with pytest.raises(InvalidFrameError) as info:
        decoder.next_frame()
    assert info.value.size == -1
    with pytest.raises(InvalidFrameError):
        decoder.next_frame()
    with pytest.raises(InvalidFrameError):
        decoder.feed(b"more")


def test_too_large_raises_as_soon_as_the_prefix_arrives() -> None:
    decoder = FrameDecoder(max_frame_bytes=1000)
    decoder.feed(struct.pack(">i", 1001)[:3])
    assert decoder.next_frame() is None
    decoder.feed(b"\xe9")
    with pytest.raises(FrameTooLargeError) as info:
        decoder.next_frame()
    assert (info.value.size, info.value.max_frame_bytes) == (1001, 1000)


def test_huge_size_with_default_limit() -> None:
    decoder = FrameDecoder()
    decoder.feed(struct.pack(">i", 0x7FFFFFFF))
    with pytest.raises(FrameTooLargeError):
        decoder.next_frame()


def test_exactly_the_limit_is_fine() -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    decoder.feed(framed(bytes(10)))
    assert decoder.next_frame() == bytes(10)


def test_many_small_frames_and_one_big_frame_are_linear() -> None:
    # Generous bounds: these catch quadratic behaviour, not small slowdowns.
    small = framed(b"x" * 30) * 50_000
    decoder = FrameDecoder()
    start = time.perf_counter()
    count = 0
    for i in range(0, len(small), 65536):
        decoder.feed(small[i : i + 65536])
        count += sum(1 for _ in decoder.frames())
    assert count == 50_000
    big = framed(bytes(20 << 20))
    for i in range(0, len(big), 16384):
        decoder.feed(big[i : i + 16384])
        frame = decoder.next_frame()
    assert frame is not None and len(frame) == 20 << 20
    assert time.perf_counter() - start < 5.0


@quick
@given(
    sizes=st.lists(st.sampled_from([0, 1, 100, 16_384, 16_385, 70_000, 300_000]), max_size=8),
    reads=st.lists(st.integers(1, 400_000), min_size=1, max_size=20),
)
def test_reading_into_the_decoders_buffer(sizes: list[int], reads: list[int]) -> None:
    """The BufferedProtocol path: a socket reads at most len(get_buffer()) bytes at a time,
    in arbitrary amounts; every frame comes out intact and stays intact."""
    payloads = [os.urandom(n) for n in sizes]
    stream = memoryview(b"".join(framed(p) for p in payloads))
    decoder = FrameDecoder()
    frames: list[bytes | memoryview] = []
    pos = 0
    for want in itertools.cycle(reads):
        if pos == len(stream):
            break
        space = decoder.get_buffer()
        assert len(space) > 0
        n = min(want, len(space), len(stream) - pos)
        space[:n] = stream[pos : pos + n]
        decoder.buffer_updated(n)
        pos += n
        frames += decoder.frames()
    assert [bytes(f) for f in frames] == payloads
    assert decoder.buffered_bytes == 0


def test_feed_of_many_frames_larger_than_the_buffer() -> None:
    payloads = [os.urandom(50_000) for _ in range(30)]
    decoder = FrameDecoder()
    decoder.feed(b"".join(framed(p) for p in payloads))
    assert drain(decoder) == payloads


def test_lying_size_prefix_does_not_allocate_the_announced_size() -> None:
    decoder = FrameDecoder()
    decoder.feed(struct.pack(">i", DEFAULT_MAX_FRAME_BYTES) + bytes(300_000))
    assert decoder.next_frame() is None
    # The buffer grows with what arrived (at most ~4x), not to the 100 MiB announced.
    assert len(decoder.get_buffer()) < 2_000_000


def test_a_buffer_is_reused_once_its_lent_frames_are_gone() -> None:
    big = os.urandom(100_000)
    decoder = FrameDecoder()
    decoder.feed(framed(big))
    frame = decoder.next_frame()
    assert isinstance(frame, memoryview)
    kept = bytes(frame)
    first = decoder.get_buffer()
    first_len = len(first)
    del first
    # Fill the rest so the decoder must make room: with the frame still held, a new buffer.
    decoder.feed(bytes(first_len))
    assert bytes(frame) == kept  # untouched
    del frame
    decoder = FrameDecoder()
    decoder.feed(framed(big))
    released = decoder.next_frame()
    assert released is not None
    del released
    space = decoder.get_buffer()
    n = len(space)
    del space
    decoder.feed(framed(b"x" * 10) + bytes(n))  # forces _make_room, now free to reuse
    assert decoder.next_frame() == b"x" * 10


@quick
@given(
    sizes=st.lists(st.sampled_from([0, 100, 16_385, 70_000, 300_000]), max_size=8),
    reads=st.lists(st.integers(1, 400_000), min_size=1, max_size=20),
)
def test_frames_copied_out_at_once_let_buffers_be_reused(
    sizes: list[int], reads: list[int]
) -> None:
    """As the Kafka door uses it: each frame is handled (copied) and dropped before the next
    read, so the decoder reuses its buffer; every frame must still come out intact."""
    payloads = [os.urandom(n) for n in sizes]
    stream = memoryview(b"".join(framed(p) for p in payloads))
    decoder = FrameDecoder()
    got: list[bytes] = []
    pos = 0
    for want in itertools.cycle(reads):
        if pos == len(stream):
            break
        space = decoder.get_buffer()
        n = min(want, len(space), len(stream) - pos)
        space[:n] = stream[pos : pos + n]
        del space
        decoder.buffer_updated(n)
        pos += n
        while (frame := decoder.next_frame()) is not None:
            got.append(bytes(frame))
            del frame
    assert got == payloads


def test_reads_stop_at_a_large_frames_end() -> None:
    """Once its size is known, so the next frame starts a read of its own rather than being
    moved later (reads of at most 64 KiB, as a socket might return)."""
    big, small = os.urandom(200_000), b"next"
    stream = framed(big) + framed(small)
    decoder = FrameDecoder()
    pos = 0
    while True:
        space = decoder.get_buffer()
        n = min(65_536, len(space), len(stream) - pos)
        space[:n] = stream[pos : pos + n]
        del space
        decoder.buffer_updated(n)
        pos += n
        if pos >= 4 + len(big):
            break
    assert pos == 4 + len(big), "a read ran past the large frame's end"
    assert decoder.next_frame() == big
    decoder.feed(stream[pos:])
    assert decoder.next_frame() == small


def test_large_frames_released_before_the_next_read_reuse_one_buffer() -> None:
    """The 1 MiB produce pattern: each frame is handled and dropped before the next read; the
    same buffer holds every frame, from its front, and nothing is copied between buffers."""
    payloads = [os.urandom(1 << 20) for _ in range(4)]
    stream = memoryview(b"".join(framed(p) for p in payloads))
    decoder = FrameDecoder()
    buffers: set[int] = set()
    got: list[bytes] = []
    pos = 0
    while pos < len(stream):
        space = decoder.get_buffer()
        buffers.add(id(space.obj))
        n = min(300_000, len(space), len(stream) - pos)
        space[:n] = stream[pos : pos + n]
        del space
        decoder.buffer_updated(n)
        pos += n
        while (frame := decoder.next_frame()) is not None:
            assert isinstance(frame, memoryview)  # lent, not copied out
            got.append(bytes(frame))
            del frame
            if pos < len(stream):
                space = decoder.get_buffer()
                assert len(space) == len(space.obj), "the next frame starts at the front"
                del space
    assert got == payloads
    assert len(buffers) <= 2  # the first (default-sized) one, then one sized for a frame


def test_a_large_frame_still_held_is_not_overwritten_by_the_next_read() -> None:
    first, second = os.urandom(100_000), os.urandom(100_000)
    decoder = FrameDecoder()
    decoder.feed(framed(first))
    held = decoder.next_frame()
    assert held is not None
    decoder.feed(framed(second))
    assert decoder.next_frame() == second
    assert bytes(held) == first
