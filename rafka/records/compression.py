"""The four record-batch codecs Kafka defines, in the exact framings Kafka's own clients use.

Only the builder/decoder (tests, front doors that speak records rather than bytes) needs this;
the log never decompresses anything. gzip comes from the standard library; snappy, lz4 and zstd
come from optional packages, imported on first use so that a broker without them still starts.
Each codec prefers the package Kafka-compatible clients use most and falls back to `cramjam`.

Framings (what the Java client writes, so every consumer can read what we build):
- gzip: a plain gzip member.
- snappy: xerial's block framing (`\\x82SNAPPY\\x00`, version 1, compat 1, then length-prefixed
  raw snappy blocks of up to 32 KiB). Decoding also accepts raw snappy, which librdkafka and
  snappy-java's fallback both produce and read.
- lz4: an LZ4 frame with independent 64 KiB blocks and no content size or checksums; Kafka's
  KafkaLZ4BlockInputStream refuses linked blocks.
- zstd: one zstd frame. Decoding does not require the content size in the frame header (the
  Java client streams, so it never writes one) and reads across concatenated frames.
"""

from __future__ import annotations

import gzip
import importlib
import struct
import zlib
from typing import Any

from rafka.records.batch import Compression, CorruptBatchError

_XERIAL_HEADER = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024
_INT32 = struct.Struct(">i")


class CompressionUnavailableError(RuntimeError):
    """The codec's Python package is not installed."""


def _module(*names: str) -> Any:
    """The first importable module among `names`, or None."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


class _Codecs:
    """Lazily imported codec packages (typed as Any: none of them ships complete stubs)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}

    def get(self, key: str, *modules: str) -> Any:
        if key not in self._loaded:
            self._loaded[key] = _module(*modules)
        return self._loaded[key]


_codecs = _Codecs()


def _need(codec: Compression, module: Any, packages: str) -> Any:
    if module is None:
        raise CompressionUnavailableError(
            f"{codec.name.lower()} compression needs one of these packages: {packages}"
        )
    return module


def compress(codec: Compression, data: bytes | bytearray | memoryview) -> bytes:
    """Compress a batch's records section with `codec`."""
    if codec == Compression.NONE:
        return bytes(data)
    if codec == Compression.GZIP:
        return gzip.compress(data, compresslevel=6, mtime=0)
    if codec == Compression.SNAPPY:
        return _snappy_compress(bytes(data))
    if codec == Compression.LZ4:
        lz4_frame = _codecs.get("lz4", "lz4.frame")
        if lz4_frame is not None:
            return bytes(
                lz4_frame.compress(
                    bytes(data),
                    block_size=lz4_frame.BLOCKSIZE_MAX64KB,
                    block_linked=False,
                    content_checksum=False,
                    block_checksum=False,
                    store_size=False,
                )
            )
        cramjam = _need(codec, _codecs.get("cramjam", "cramjam"), "lz4, cramjam")
        # cramjam.lz4.compress() links blocks, which Kafka refuses; its streaming compressor
        # can be told not to (it still writes block checksums, which Kafka skips).
        compressor = cramjam.lz4.Compressor(content_checksum=False, block_linked=False)
        compressor.compress(bytes(data))
        return bytes(compressor.finish())
    if codec == Compression.ZSTD:
        zstandard = _codecs.get("zstandard", "zstandard")
        if zstandard is not None:
            return bytes(zstandard.ZstdCompressor().compress(bytes(data)))
        cramjam = _need(codec, _codecs.get("cramjam", "cramjam"), "zstandard, cramjam")
        return bytes(cramjam.zstd.compress(bytes(data)))
    raise ValueError(f"unknown compression codec {codec}")


def decompress(codec: Compression, data: bytes | bytearray | memoryview) -> bytes:
    """Decompress a batch's records section. Damaged input raises CorruptBatchError."""
    if codec == Compression.NONE:
        return bytes(data)
    try:
        if codec == Compression.GZIP:
            return gzip.decompress(data)
        if codec == Compression.SNAPPY:
            return _snappy_decompress(bytes(data))
        if codec == Compression.LZ4:
            lz4_frame = _codecs.get("lz4", "lz4.frame")
            if lz4_frame is not None:
                return bytes(lz4_frame.decompress(bytes(data)))
            cramjam = _need(codec, _codecs.get("cramjam", "cramjam"), "lz4, cramjam")
            return bytes(cramjam.lz4.decompress(bytes(data)))
        if codec == Compression.ZSTD:
            zstandard = _codecs.get("zstandard", "zstandard")
            if zstandard is not None:
                obj = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)
                return bytes(obj.decompress(bytes(data)))
            cramjam = _need(codec, _codecs.get("cramjam", "cramjam"), "zstandard, cramjam")
            return bytes(cramjam.zstd.decompress(bytes(data)))
    except CompressionUnavailableError:
        raise
    except (OSError, EOFError, ValueError, RuntimeError, zlib.error) as exc:
        raise CorruptBatchError(f"{codec.name.lower()} records section: {exc}") from exc
    except Exception as exc:
        # The codec packages raise their own exception types (lz4.frame: RuntimeError,
        # zstandard.ZstdError, cramjam.DecompressionError); all mean the same thing here.
        raise CorruptBatchError(f"{codec.name.lower()} records section: {exc}") from exc
    raise ValueError(f"unknown compression codec {codec}")


def _snappy_raw() -> tuple[Any, Any]:
    """(compress_raw, decompress_raw) from cramjam or python-snappy."""
    cramjam = _codecs.get("cramjam", "cramjam")
    if cramjam is not None:
        return cramjam.snappy.compress_raw, cramjam.snappy.decompress_raw
    snappy = _need(Compression.SNAPPY, _codecs.get("snappy", "snappy"), "cramjam, python-snappy")
    return snappy.compress, snappy.decompress


def _snappy_compress(data: bytes) -> bytes:
    compress_raw, _ = _snappy_raw()
    out = bytearray(_XERIAL_HEADER)
    view = memoryview(data)
    for start in range(0, len(data), _XERIAL_BLOCK):
        block = bytes(compress_raw(bytes(view[start : start + _XERIAL_BLOCK])))
        out += _INT32.pack(len(block))
        out += block
    return bytes(out)


def _snappy_decompress(data: bytes) -> bytes:
    _, decompress_raw = _snappy_raw()
    # Only the 8-byte magic is checked: some producers write version/compat little-endian.
    if len(data) >= 16 and data[:8] == _XERIAL_HEADER[:8]:
        out = bytearray()
        pos = 16
        while pos < len(data):
            if pos + 4 > len(data):
                raise ValueError("xerial snappy block length truncated")
            (size,) = _INT32.unpack_from(data, pos)
            pos += 4
            if size < 0 or pos + size > len(data):
                raise ValueError(f"xerial snappy block of {size} bytes overruns the input")
            out += bytes(decompress_raw(data[pos : pos + size]))
            pos += size
        return bytes(out)
    return bytes(decompress_raw(data))
