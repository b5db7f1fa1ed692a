"""The hand-written protobuf of the gRPC hot paths (`rafka.server.grpc.wire`) and the publish
fast path, cross-checked against the general code they stand in for: the generated classes,
`convert.incoming`, `convert.messages_from_records` over `decode_batch`, and
`Publisher.publish`. The wire-level tests run twice: on the module as imported (its mypyc twin
when one is built, `rafka/compiled.py`) and on an interpreted instance of the same source."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from functools import partial
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rafka.broker import Broker
from rafka.broker.broker import BrokerSettings
from rafka.broker.cluster import StaticLayout
from rafka.compiled import load_interpreted
from rafka.records import (
    Compression,
    CorruptBatchError,
    Record,
    TimestampType,
    build_batch,
    decode_batch,
    iter_batches,
)
from rafka.records.builder import batch_from_section, records_section
from rafka.server.grpc import wire as imported_wire
from rafka.server.grpc.convert import incoming, messages_from_records
from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.publish import Publisher, PublishOutcome

FAST = settings(max_examples=80, deadline=None)
NOW = 1_700_000_000_000

INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# Lengths around the one-, two- and three-byte varint boundaries (127/128, 16383/16384).
binary_st = st.one_of(
    st.none(),
    st.binary(max_size=140),
    st.integers(min_value=16370, max_value=16400).map(lambda n: b"y" * n),
)
headers_st = st.lists(
    st.tuples(st.text(max_size=8), st.one_of(st.none(), st.binary(max_size=20))), max_size=3
).map(tuple)


@pytest.fixture(scope="module", params=["as-imported", "interpreted"])
def wire(request: pytest.FixtureRequest) -> ModuleType:
    if request.param == "interpreted":
        return load_interpreted("rafka.server.grpc.wire")
    return imported_wire


def _header(key: str, value: bytes | None) -> pb.Header:
    return pb.Header(key=key) if value is None else pb.Header(key=key, value=value)


@st.composite
def publish_requests(draw: st.DrawFn) -> pb.PublishRequest:
    message = pb.PublishRequest(
        producer_id=draw(st.sampled_from(["", "p", "producer-é"])),
        topic=draw(st.sampled_from(["", "a", "b", "ü-topic"])),
        timestamp_ms=draw(st.one_of(st.just(0), INT64)),
    )
    key = draw(binary_st)
    if key is not None:
        message.key = key
    payload = draw(binary_st)
    if payload is not None:
        message.payload = payload
    partition = draw(st.one_of(st.none(), st.integers(min_value=-1, max_value=3), INT32))
    if partition is not None:
        message.partition = partition
    message.headers.extend(_header(k, v) for k, v in draw(headers_st))
    return message


# Batches with runs: a few message templates repeated with different payloads.
batch_requests = st.lists(
    st.tuples(publish_requests(), st.lists(binary_st, min_size=1, max_size=4)), max_size=5
).map(
    lambda groups: pb.PublishBatchRequest(
        messages=[_with_payload(template, p) for template, payloads in groups for p in payloads]
    )
)


def _with_payload(template: pb.PublishRequest, payload: bytes | None) -> pb.PublishRequest:
    message = pb.PublishRequest()
    message.CopyFrom(template)
    if payload is None:
        message.ClearField("payload")
    else:
        message.payload = payload
    return message


def _flatten(runs: list[imported_wire.Run]) -> list[tuple[object, ...]]:
    return [
        (topic, partition, key, value, [(k, v) for k, v in headers], timestamp)
        for topic, partition, key, headers, timestamp, values in runs
        for value in values
    ]


# ------------------------------------------------------------------ PublishBatchRequest


@FAST
@given(request=batch_requests)
def test_parse_publish_batch_reads_what_incoming_reads(
    wire: ModuleType, request: pb.PublishBatchRequest
) -> None:
    runs = wire.parse_publish_batch(request.SerializeToString())
    assert runs is not None
    expected = []
    for message in request.messages:
        one = incoming(message, 0)
        record = one.record
        expected.append(
            (
                one.topic.encode(),
                one.partition,
                record.key,
                record.value,
                [(k.encode(), v) for k, v in record.headers],
                record.timestamp_ms,
            )
        )
    assert _flatten(runs) == expected


def test_messages_alike_but_for_their_payloads_make_one_run(wire: ModuleType) -> None:
    one = pb.PublishRequest(topic="t", partition=1, key=b"k", headers=[pb.Header(key="h")])
    request = pb.PublishBatchRequest(
        messages=[_with_payload(one, b"%d" % i) for i in range(200)]
        + [_with_payload(one, None), _with_payload(one, b"x" * 300)]
        + [pb.PublishRequest(topic="t", partition=2, payload=b"z")]
    )
    runs = wire.parse_publish_batch(request.SerializeToString())
    assert runs is not None
    assert [len(run[5]) for run in runs] == [200, 1, 1, 1]  # a payload-less message cannot lead
    assert runs[0][5] == [b"%d" % i for i in range(200)]


def test_unknown_fields_are_left_to_the_generated_classes(wire: ModuleType) -> None:
    message = pb.PublishRequest(topic="t", payload=b"p").SerializeToString()
    unknown = b"\x78\x01"  # field 15, varint
    assert wire.parse_publish_batch(b"\x0a" + bytes([len(message)]) + message)
    assert wire.parse_publish_batch(b"\x0a" + bytes([len(message)]) + message + unknown) is None
    inner = message + unknown
    assert wire.parse_publish_batch(b"\x0a" + bytes([len(inner)]) + inner) is None
    assert wire.parse_publish_batch(b"\x0a\x05\x12\x01t") is None  # truncated


# ------------------------------------------------------------------ PublishBatchResponse


@FAST
@given(
    topic=st.text(min_size=1, max_size=20).filter(lambda t: "/" not in t),
    partition=st.integers(min_value=0, max_value=2**31 - 1),
    base_offset=st.one_of(
        st.integers(min_value=0, max_value=20_000), st.integers(min_value=0, max_value=2**62)
    ),
    runs=st.lists(
        st.tuples(st.integers(min_value=1, max_value=5), st.one_of(st.just(0), INT64)),
        min_size=1,
        max_size=5,
    ),
)
def test_publish_results_are_what_protobuf_writes(
    wire: ModuleType,
    topic: str, partition: int, base_offset: int, runs: list[tuple[int, int]]
) -> None:
    ours = b"".join(wire.publish_results(topic, partition, base_offset, runs))
    expected = pb.PublishBatchResponse()
    offset = base_offset
    for count, timestamp in runs:
        for _ in range(count):
            expected.results.add(
                message_id=f"{topic}/{partition}/{offset}",
                partition=partition,
                offset=offset,
                timestamp_ms=timestamp,
            )
            offset += 1
    assert ours == expected.SerializeToString()


# ------------------------------------------------------------------ ConsumeResponse

records_st = st.lists(
    st.builds(
        Record,
        key=binary_st,
        value=binary_st,
        headers=headers_st,
        timestamp_ms=st.one_of(st.just(NOW), st.integers(min_value=-1, max_value=2**42)),
    ),
    min_size=1,
    max_size=8,
)


def _expected(
    topic: str, partition: int, batch: bytes, position: int = 0
) -> pb.ConsumeResponse:
    records = [r for r in decode_batch(batch) if r.offset >= position]
    return pb.ConsumeResponse(messages=messages_from_records(topic, partition, records))


def _ours(
    wire: ModuleType, topic: str, partition: int, batch: bytes, position: int = 0
) -> bytes:
    header, section = records_section(batch)
    out: list[bytes] = []
    written = wire.MessageWriter(topic, partition).write(section, header, position, out)
    assert len(out) == 2 * written
    return b"".join(out)


@FAST
@given(
    records=records_st,
    topic=st.text(min_size=1, max_size=20),
    partition=st.integers(min_value=0, max_value=2**31 - 1),
    base_offset=st.one_of(
        st.integers(min_value=0, max_value=20_000),
        st.integers(min_value=2**28 - 5, max_value=2**28 + 5),
        st.integers(min_value=0, max_value=2**62),
    ),
    codec=st.sampled_from(list(Compression)),
    log_append_time=st.booleans(),
    skip=st.integers(min_value=0, max_value=9),
)
def test_message_writer_writes_what_the_generated_classes_write(
    wire: ModuleType,
    records: list[Record],
    topic: str,
    partition: int,
    base_offset: int,
    codec: Compression,
    log_append_time: bool,
    skip: int,
) -> None:
    batch = build_batch(
        records,
        base_offset=base_offset,
        compression=codec,
        timestamp_type=(
            TimestampType.LOG_APPEND_TIME if log_append_time else TimestampType.CREATE_TIME
        ),
    )
    position = base_offset + skip
    ours = _ours(wire, topic, partition, batch, position)
    assert ours == _expected(topic, partition, batch, position).SerializeToString()


def test_message_writer_over_many_records(wire: ModuleType) -> None:
    records = [Record(None, b"v%d" % i, (), NOW + i // 100) for i in range(20_000)]
    batch = build_batch(records, base_offset=2**28 - 10_000)
    assert _ours(wire, "t", 3, batch) == _expected("t", 3, batch).SerializeToString()


def test_a_header_key_that_is_not_utf8_is_replaced(wire: ModuleType) -> None:
    # Kafka clients other than Java's can write any bytes; protobuf strings must be UTF-8.
    batch = build_batch([Record(b"k", b"v", (("\udcff-key", b"x"), ("ok", None)), NOW)])
    (message,) = pb.ConsumeResponse.FromString(_ours(wire, "t", 0, batch)).messages
    assert [(h.key, h.value, h.HasField("value")) for h in message.headers] == [
        ("\ufffd-key", b"x", True),
        ("ok", b"", False),
    ]


@settings(max_examples=300, deadline=None)
@given(
    records=records_st,
    where=st.integers(min_value=0),
    byte=st.integers(min_value=0, max_value=255),
    cut=st.integers(min_value=0, max_value=3),
)
def test_damaged_records_fail_as_decode_batch_fails(
    wire: ModuleType,
    records: list[Record], where: int, byte: int, cut: int
) -> None:
    section = bytearray(build_batch(records)[61:])
    section[where % len(section)] = byte
    del section[len(section) - cut :]
    # A valid CRC over the damaged records, so that only the record parsing can object.
    batch = batch_from_section(bytes(section), len(records), NOW, NOW)
    try:
        expected: bytes | type[Exception] = _expected("t", 0, batch).SerializeToString()
    except CorruptBatchError:
        expected = CorruptBatchError
    except UnicodeEncodeError:
        return  # a damaged header key: the general code fails, ours replaces it (above)
    try:
        ours: bytes | type[Exception] = _ours(wire, "t", 0, batch)
    except CorruptBatchError:
        ours = CorruptBatchError
    assert ours == expected


# ------------------------------------------------------------------ the publish fast path


class _Pair:
    """Two identical in-memory brokers: one publishes through `publish_batch` (the fast path
    where it applies), the other through `publish` (the general path)."""

    def __init__(self, layout: StaticLayout) -> None:
        self.brokers: list[Broker] = []
        self.publishers: list[Publisher] = []
        for _ in range(2):
            broker = Broker(BrokerSettings(engine="in_memory"), clock=lambda: NOW)
            broker.open()
            broker.create_topic("a", 3)
            broker.create_topic("small", 1, {"max.message.bytes": "400"})
            broker.create_topic("stamped", 1, {"message.timestamp.type": "LogAppendTime"})
            self.brokers.append(broker)
            self.publishers.append(Publisher(broker, layout, broker.clock))

    def close(self) -> None:
        for broker in self.brokers:
            asyncio.run(broker.close())

    def stored(self, index: int) -> dict[tuple[str, int], bytes]:
        out = {}
        for name, topic in sorted(self.brokers[index].topics.items()):
            for partition in topic.partitions:
                log = partition.log
                read = log.read(0, 1 << 30, max_offset=log.high_watermark)
                out[(name, partition.index)] = b"".join(read.chunks)
        return out


def _outcome(publish: Callable[[], PublishOutcome]) -> tuple[str, object]:
    try:
        outcome = publish()
    except Exception as exc:
        return ("error", (type(exc), str(exc)))
    return ("ok", outcome.response.SerializeToString())


@pytest.fixture(params=["single", "owns-1-of-3"])
def pair(request: pytest.FixtureRequest) -> Iterator[_Pair]:
    if request.param == "single":
        layout = StaticLayout()
    else:
        peers = [("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 3)]
        layout = StaticLayout(partition=1, total_partitions=3, peers=peers)
    made = _Pair(layout)
    yield made
    made.close()


@st.composite
def fast_path_requests(draw: st.DrawFn) -> pb.PublishBatchRequest:
    def one() -> pb.PublishRequest:
        # Mostly calls the fast path takes; some it leaves to the general path (a batch to
        # split, an empty or invalid topic name, a partition out of range).
        topic = draw(
            st.sampled_from(["a"] * 6 + ["b"] * 3 + ["stamped"] * 3 + ["small", "", "a/b"])
        )
        message = pb.PublishRequest(topic=topic)
        if draw(st.booleans()):
            message.key = draw(st.binary(max_size=8))
        if draw(st.booleans()):
            message.payload = draw(st.binary(max_size=120))
        partition = draw(st.sampled_from([None] * 4 + [0, 1, 2] * 2 + [5, -1]))
        if partition is not None:
            message.partition = partition
        message.timestamp_ms = draw(st.sampled_from([0, 0, 5, NOW - 10]))
        message.headers.extend(_header(k, v) for k, v in draw(headers_st))
        return message

    templates = draw(st.lists(st.builds(one), min_size=1, max_size=4))
    counts = draw(
        st.lists(
            st.integers(min_value=1, max_value=30),
            min_size=len(templates),
            max_size=len(templates),
        )
    )
    return pb.PublishBatchRequest(
        messages=[
            _with_payload(t, b"m%d" % i if i % 7 else None)
            for t, n in zip(templates, counts, strict=True)
            for i in range(n)
        ]
    )


# The pair lives across examples on purpose: both brokers see the same sequence of calls, so
# they must stay identical whatever they already hold.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(requests=st.lists(fast_path_requests(), min_size=1, max_size=3))
def test_the_fast_path_stores_and_answers_what_the_general_path_does(
    pair: _Pair, requests: list[pb.PublishBatchRequest]
) -> None:
    fast, general = pair.publishers
    for request in requests:
        ours = _outcome(partial(fast.publish_batch, request))
        theirs = _outcome(partial(general.publish, request.messages))
        assert ours == theirs
        assert fast._next_sticky == general._next_sticky
    assert pair.stored(0) == pair.stored(1)


def test_the_fast_path_writes_one_batch_per_partition(pair: _Pair) -> None:
    messages = [pb.PublishRequest(topic="a", partition=1, payload=b"p%d" % i) for i in range(500)]
    outcome = pair.publishers[0].publish_batch(pb.PublishBatchRequest(messages=messages))
    assert [r.offset for r in outcome.response.results] == list(range(500))
    assert [r.message_id for r in outcome.response.results[:2]] == ["a/1/0", "a/1/1"]
    stored = pair.stored(0)[("a", 1)]
    assert [h.record_count for _, h in iter_batches(stored)] == [500]
    assert [r.value for r in decode_batch(stored)] == [b"p%d" % i for i in range(500)]
