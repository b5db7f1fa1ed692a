"""`SectionWriter` and `batch_from_section` (the gRPC publish path's way of building a batch)
against `build_batch`, and `records_section` against `decode_batch`: the same bytes and the
same records, for every codec, with keys, values and headers of every kind."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rafka.records import Compression, CorruptBatchError, Record, build_batch, decode_batch
from rafka.records.builder import batch_from_section, read_varint, records_section
from rafka.records.writer import TABLE_SIZE, ZIGZAG, SectionWriter, zigzag

FAST = settings(max_examples=80, deadline=None)

# Lengths around the one-, two- and three-byte varint boundaries (63/64, 8191/8192).
binary_st = st.one_of(
    st.none(),
    st.binary(max_size=70),
    st.integers(min_value=8150, max_value=8250).map(lambda n: b"x" * n),
)
headers_st = st.lists(
    st.tuples(st.text(max_size=8), st.one_of(st.none(), st.binary(max_size=20))), max_size=3
).map(tuple)
# Runs as SectionWriter.add_run takes them: (timestamp, key, headers, values).
runs_st = st.lists(
    st.tuples(
        st.one_of(st.integers(min_value=-(2**40), max_value=2**50), st.just(1_700_000_000_000)),
        binary_st,
        headers_st,
        st.lists(binary_st, min_size=1, max_size=5),
    ),
    min_size=1,
    max_size=6,
)


Headers = tuple[tuple[str, bytes | None], ...]
Run = tuple[int, bytes | None, Headers, list[bytes | None]]


def _records(runs: list[Run]) -> list[Record]:
    return [
        Record(key, value, headers, timestamp)
        for timestamp, key, headers, values in runs
        for value in values
    ]


def _written(runs: list[Run]) -> SectionWriter:
    writer = SectionWriter(runs[0][0])
    for timestamp, key, headers, values in runs:
        raw = [(k.encode("utf-8", "surrogateescape"), v) for k, v in headers]
        writer.add_run(timestamp, key, raw, values)
    return writer


@FAST
@given(
    runs=runs_st,
    base_offset=st.integers(min_value=0, max_value=2**62),
    codec=st.sampled_from(list(Compression)),
)
def test_section_writer_builds_what_build_batch_builds(
    runs: list[Run],
    base_offset: int,
    codec: Compression,
) -> None:
    records = _records(runs)
    writer = _written(runs)
    assert writer.count == len(records)
    assert writer.max_timestamp == max(r.timestamp_ms for r in records)
    ours = batch_from_section(
        writer.section(),
        writer.count,
        writer.base_timestamp,
        writer.max_timestamp,
        base_offset,
        codec,
    )
    # Every codec here is deterministic (gzip with mtime=0), so the bytes match too.
    assert ours == build_batch(records, base_offset=base_offset, compression=codec)
    assert [(r.key, r.value, r.headers, r.timestamp_ms) for r in decode_batch(ours)] == [
        (r.key, r.value, r.headers, r.timestamp_ms) for r in records
    ]


def test_many_records_use_long_offset_deltas() -> None:
    writer = SectionWriter(5)
    writer.add_run(5, None, [], [b"v"] * (TABLE_SIZE + 10))
    batch = batch_from_section(writer.section(), writer.count, 5, 5)
    assert batch == build_batch([Record(None, b"v", (), 5)] * (TABLE_SIZE + 10))


@FAST
@given(value=st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_zigzag_reads_back(value: int) -> None:
    encoded = zigzag(value)
    assert read_varint(encoded, 0) == (value, len(encoded))
    if 0 <= value < TABLE_SIZE:
        assert ZIGZAG[value] == encoded


@FAST
@given(
    records=st.lists(
        st.builds(
            Record,
            key=binary_st,
            value=binary_st,
            headers=headers_st,
            timestamp_ms=st.integers(min_value=0, max_value=2**42),
        ),
        min_size=1,
        max_size=6,
    ),
    codec=st.sampled_from(list(Compression)),
)
def test_records_section_is_the_decompressed_section(
    records: list[Record], codec: Compression
) -> None:
    plain = build_batch(records)
    batch = build_batch(records, base_offset=7, compression=codec)
    header, section = records_section(b"junk" + batch, 4)
    assert header.base_offset == 7
    assert (header.record_count, header.compression) == (len(records), codec)
    assert section == plain[61:]


def test_a_negative_one_byte_length_is_refused() -> None:
    # zigzag 3 is -2: the decoder used to read it as a 1-byte key.
    body = bytes([0, 0, 0, 3]) + b"A" + bytes([1, 0])
    batch = batch_from_section(ZIGZAG[len(body)] + body, 1, 0, 0)
    with pytest.raises(CorruptBatchError, match="negative field length -2"):
        decode_batch(batch)
