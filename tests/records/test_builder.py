"""The batch builder and decoder: round trips, and cross-checks against two independent
implementations (kio's record readers/writers, kafka-python's DefaultRecordBatch)."""

from __future__ import annotations

import datetime
import io
import struct

import pytest
from crc32c import crc32c
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kio.records.readers import read_batch
from kio.records.schema import NewRecordBatch
from kio.records.schema import Record as KioRecord
from kio.records.schema import RecordHeader as KioHeader
from kio.records.writers import write_new_batch
from kio.static.primitive import TZAwareMicros, i8, i16, i32, i64

from rafka.records import (
    BatchHeader,
    Compression,
    CompressionUnavailableError,
    CorruptBatchError,
    InvalidBatchError,
    Record,
    TimestampType,
    build_batch,
    decode_batch,
    decode_batches,
    parse_header,
    validate_batches,
)
from rafka.records import compression as compression_module

FAST = settings(max_examples=60, deadline=None)

headers_st = st.lists(
    st.tuples(st.text(max_size=8), st.one_of(st.none(), st.binary(max_size=20))), max_size=3
).map(tuple)
records_st = st.lists(
    st.builds(
        Record,
        key=st.one_of(st.none(), st.binary(max_size=40)),
        value=st.one_of(st.none(), st.binary(max_size=300)),
        headers=headers_st,
        timestamp_ms=st.integers(min_value=-1, max_value=2**42),
    ),
    min_size=1,
    max_size=12,
)


def _numbered(records: list[Record], base_offset: int) -> list[Record]:
    return [
        Record(r.key, r.value, r.headers, r.timestamp_ms, base_offset + i)
        for i, r in enumerate(records)
    ]


@FAST
@given(
    records=records_st,
    base_offset=st.integers(min_value=0, max_value=2**62),
    codec=st.sampled_from(list(Compression)),
)
def test_round_trip(records: list[Record], base_offset: int, codec: Compression) -> None:
    batch = build_batch(records, base_offset=base_offset, compression=codec)
    header = validate_batches(batch)[0]  # the broker's own checks accept it
    assert header.compression == codec
    assert header.base_offset == base_offset
    assert header.record_count == len(records)
    assert header.base_timestamp == records[0].timestamp_ms
    assert header.max_timestamp == max(r.timestamp_ms for r in records)
    assert decode_batch(batch) == _numbered(records, base_offset)


@FAST
@given(batches=st.lists(records_st, min_size=1, max_size=4), cut=st.integers(1, 60))
def test_decode_batches_ignores_a_partial_last_batch(batches: list[list[Record]], cut: int) -> None:
    data = b""
    expected: list[Record] = []
    offset = 0
    for records in batches:
        data += build_batch(records, base_offset=offset)
        expected += _numbered(records, offset)
        offset += len(records)
    assert decode_batches(data) == expected
    last = build_batch(batches[0], base_offset=offset)
    assert decode_batches(data + last[: len(last) - cut]) == expected


def test_header_fields() -> None:
    batch = build_batch(
        [Record(b"k", b"v", (), 10), Record(b"k", b"v", (), 5)],
        base_offset=3,
        producer_id=77,
        producer_epoch=2,
        base_sequence=9,
        partition_leader_epoch=4,
        is_transactional=True,
    )
    header = parse_header(batch)
    assert header == BatchHeader(
        base_offset=3,
        batch_length=len(batch) - 12,
        partition_leader_epoch=4,
        magic=2,
        crc=crc32c(batch[21:]),
        attributes=0x10,
        last_offset_delta=1,
        base_timestamp=10,
        max_timestamp=10,
        producer_id=77,
        producer_epoch=2,
        base_sequence=9,
        record_count=2,
    )
    assert header.is_transactional and not header.is_control


def test_log_append_time_records_take_the_batch_max_timestamp() -> None:
    batch = build_batch(
        [Record(b"a", None, (), 1), Record(b"b", None, (), 7)],
        timestamp_type=TimestampType.LOG_APPEND_TIME,
    )
    assert parse_header(batch).timestamp_type == TimestampType.LOG_APPEND_TIME
    assert [r.timestamp_ms for r in decode_batch(batch)] == [7, 7]


def test_multi_byte_varints() -> None:
    records = [
        Record(b"k" * 200, b"v" * 20_000, (("h" * 130, b"x" * 70_000),), 2**40),
        Record(None, b"", (), 0),  # timestamp delta -2**40: a 6-byte varlong
    ]
    batch = build_batch(records)
    assert decode_batch(batch) == _numbered(records, 0)
    kio_batch, size = read_batch(batch, 0)
    assert size == len(batch)
    assert kio_batch.records[0].headers[0].key == b"h" * 130
    assert len(kio_batch.records[0].value or b"") == 20_000


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 127, 128, 8191, 8192, 8193, 2**20])
def test_varint_boundaries(n: int) -> None:
    base = 10**12
    records = [
        Record(b"k" * n, b"v" * n, (("h", b"x" * n),), base),
        Record(None, b"v" * (n // 2), (), base + n),
        Record(b"", None, (), base - n),
    ]
    batch = build_batch(records, base_offset=5)
    assert decode_batch(batch) == _numbered(records, 5)
    theirs = list(DefaultRecordBatch(bytearray(batch)))
    assert [(r.key, r.value, r.timestamp) for r in theirs] == [
        (r.key, r.value, r.timestamp_ms) for r in records
    ]


def test_many_records_use_long_offset_deltas() -> None:
    records = [Record(None, b"%d" % i, (), i) for i in range(20_000)]
    decoded = decode_batch(build_batch(records, compression=Compression.LZ4))
    assert [r.offset for r in decoded] == list(range(20_000))
    assert decoded[-1] == Record(None, b"19999", (), 19_999, 19_999)


def test_empty_batch_refused() -> None:
    with pytest.raises(ValueError):
        build_batch([])


def test_undecodable_header_key_survives_a_round_trip() -> None:
    record = Record(None, b"v", (("\udcff", b"x"),), 0)
    assert decode_batch(build_batch([record])) == [record]


# ------------------------------------------------------------------- errors


def _reseal(data: bytearray) -> bytes:
    struct.pack_into(">I", data, 17, crc32c(bytes(data[21:])))
    return bytes(data)


def test_decode_rejects_damage() -> None:
    batch = build_batch([Record(b"k", b"value", (), 1)] * 3)
    flipped = bytearray(batch)
    flipped[-2] ^= 1
    with pytest.raises(CorruptBatchError, match="CRC"):
        decode_batch(bytes(flipped))
    with pytest.raises(CorruptBatchError, match="truncated"):
        decode_batch(batch[:-1])
    with pytest.raises(CorruptBatchError):
        decode_batch(batch[:30])
    magic = bytearray(batch)
    magic[16] = 1
    with pytest.raises(InvalidBatchError):
        decode_batch(_reseal(magic))
    # A record whose length lies about its fields (CRC still right).
    lying = bytearray(batch)
    lying[61] += 2
    with pytest.raises(CorruptBatchError):
        decode_batch(_reseal(lying))
    # More records claimed than present.
    extra = bytearray(batch)
    struct.pack_into(">i", extra, 57, 4)
    with pytest.raises(CorruptBatchError):
        decode_batch(_reseal(extra))
    # Garbage in a compressed section.
    gz = bytearray(build_batch([Record(b"k", b"v", (), 1)], compression=Compression.GZIP))
    gz[-6] ^= 0xFF  # inside the gzip trailer CRC
    with pytest.raises(CorruptBatchError):
        decode_batch(_reseal(gz))


def test_missing_codec_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compression_module, "_codecs", compression_module._Codecs())
    monkeypatch.setattr(compression_module, "_module", lambda *names: None)
    with pytest.raises(CompressionUnavailableError, match="zstandard, cramjam"):
        build_batch([Record(b"k", b"v")], compression=Compression.ZSTD)


# -------------------------------------------------------------- codec framing


def test_lz4_uses_independent_blocks_as_kafka_requires() -> None:
    data = compression_module.compress(Compression.LZ4, b"abc" * 100_000)
    assert data[:4] == b"\x04\x22\x4d\x18"
    flags = data[4]
    assert flags >> 6 == 1  # version 01
    assert flags & 0x20  # block independence
    assert not flags & 0x08  # no content size


def test_snappy_writes_xerial_framing_and_reads_raw() -> None:
    import cramjam

    payload = bytes(range(256)) * 500
    framed = compression_module.compress(Compression.SNAPPY, payload)
    assert framed.startswith(b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")
    assert compression_module.decompress(Compression.SNAPPY, framed) == payload
    raw = bytes(cramjam.snappy.compress_raw(payload))
    assert compression_module.decompress(Compression.SNAPPY, raw) == payload


def test_zstd_without_content_size_and_with_several_frames() -> None:
    import zstandard

    compressor = zstandard.ZstdCompressor()
    streamed = compressor.compressobj()
    frame = streamed.compress(b"hello ") + streamed.flush()
    assert zstandard.frame_content_size(frame) == -1
    both = frame + zstandard.ZstdCompressor().compress(b"world")
    assert compression_module.decompress(Compression.ZSTD, both) == b"hello world"


# ----------------------------------------------------------------- kio cross


def _kio_timestamp(ms: int) -> TZAwareMicros:
    return TZAwareMicros.parse(datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC))


@FAST
@given(records=records_st, base_offset=st.integers(0, 2**40))
def test_kio_reads_what_we_build(records: list[Record], base_offset: int) -> None:
    # kio resolves timestamps to whole seconds: use second-aligned ones.
    records = [
        Record(r.key, r.value, r.headers, abs(r.timestamp_ms) // 1000 * 1000) for r in records
    ]
    batch = build_batch(records, base_offset=base_offset, producer_id=3, producer_epoch=1)
    theirs, size = read_batch(batch, 0)
    assert size == len(batch)
    assert theirs.base_offset == base_offset
    assert theirs.producer_id == 3 and theirs.producer_epoch == 1
    assert theirs.max_timestamp == max(r.timestamp_ms for r in records)
    for i, (ours, kio_record) in enumerate(zip(records, theirs.records, strict=True)):
        assert kio_record.offset == base_offset + i
        assert kio_record.key == ours.key
        assert kio_record.value == ours.value
        assert int(kio_record.timestamp.timestamp() * 1000) == ours.timestamp_ms
        assert [(h.key, h.value) for h in kio_record.headers] == [
            (k.encode("utf-8", "surrogateescape"), v) for k, v in ours.headers
        ]


@FAST
@given(records=records_st, base_offset=st.integers(0, 2**40))
def test_we_read_what_kio_builds(records: list[Record], base_offset: int) -> None:
    seconds = [abs(r.timestamp_ms) // 1000 for r in records]
    kio_records = tuple(
        KioRecord(
            attributes=i8(0),
            timestamp=_kio_timestamp(s * 1000),
            offset=i64(base_offset + i),
            key=r.key,
            value=r.value,
            headers=tuple(
                KioHeader(key=k.encode("utf-8", "surrogateescape"), value=v) for k, v in r.headers
            ),
        )
        for i, (r, s) in enumerate(zip(records, seconds, strict=True))
    )
    buffer = io.BytesIO()
    write_new_batch(
        buffer,
        NewRecordBatch(
            producer_id=i64(-1),
            producer_epoch=i16(-1),
            base_sequence=i32(-1),
            records=kio_records,
            attributes=i16(0),
        ),
    )
    data = buffer.getvalue()
    validate_batches(data)
    decoded = decode_batch(data)
    assert decoded == [
        Record(r.key, r.value, r.headers, s * 1000, base_offset + i)
        for i, (r, s) in enumerate(zip(records, seconds, strict=True))
    ]


# --------------------------------------------------------- kafka-python cross

_KAFKA_PYTHON_CODECS = {
    Compression.NONE: DefaultRecordBatch.CODEC_NONE,
    Compression.GZIP: DefaultRecordBatch.CODEC_GZIP,
    Compression.SNAPPY: DefaultRecordBatch.CODEC_SNAPPY,
    Compression.LZ4: DefaultRecordBatch.CODEC_LZ4,
    Compression.ZSTD: DefaultRecordBatch.CODEC_ZSTD,
}
kp_records_st = st.lists(
    st.builds(
        Record,
        key=st.one_of(st.none(), st.binary(max_size=40)),
        value=st.one_of(st.none(), st.binary(max_size=2000)),
        headers=st.lists(
            st.tuples(st.text(max_size=8), st.one_of(st.none(), st.binary(max_size=20))),
            max_size=3,
        ).map(tuple),
        timestamp_ms=st.integers(min_value=0, max_value=2**42),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=40, deadline=None)
@given(records=kp_records_st, codec=st.sampled_from(list(Compression)))
def test_kafka_python_reads_what_we_build(records: list[Record], codec: Compression) -> None:
    batch = build_batch(records, base_offset=100, compression=codec)
    theirs = DefaultRecordBatch(bytearray(batch))
    assert theirs.validate_crc()
    got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in theirs]
    assert got == [
        (100 + i, r.timestamp_ms, r.key, r.value, list(r.headers)) for i, r in enumerate(records)
    ]


@settings(max_examples=40, deadline=None)
@given(records=kp_records_st, codec=st.sampled_from(list(Compression)))
def test_we_read_what_kafka_python_builds(records: list[Record], codec: Compression) -> None:
    builder = DefaultRecordBatchBuilder(2, _KAFKA_PYTHON_CODECS[codec], False, -1, -1, -1, 1 << 24)
    for i, r in enumerate(records):
        builder.append(i, r.timestamp_ms, r.key, r.value, list(r.headers))
    data = bytes(builder.build())
    validate_batches(data)
    assert decode_batch(data) == _numbered(records, 0)
