"""Fetch responses that carry runs of segment files (`FileRegion`s), which the Kafka front door
sends with `os.sendfile` (rafka.server.kafka.writer): a real broker process on loopback (both
event loops) answers every Fetch version with exactly the bytes its segment files hold, keeps
pipelined responses whole and in order for a reader too slow to take them at once, leaks no
descriptor, and serves librdkafka; plus the writer itself on a real socket, without a socket
(TLS-like transports), and past the writev buffer limit."""

from __future__ import annotations

import asyncio
import importlib
import os
import random
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvloop
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from kio.schema.errors import ErrorCode

from rafka.log import FileRegion
from rafka.protocol import ResponseChunk, decode_response, encode_request
from rafka.records import iter_batches
from rafka.records.builder import Record, build_batch, decode_batches
from rafka.server.kafka.writer import ResponseWriter
from tests.support.broker_process import BrokerProcess
from tests.support.raw_kafka import RawKafka

FETCH = 1
METADATA = 3
SEGMENT_BYTES = 1024 * 1024
LOG_BYTES = 8 * 1024 * 1024
# Whole batch sizes the producer uses, 16 KiB to 1 MB (max.message.bytes is 1 MiB + 12).
BATCH_BYTES = [16 * 1024, 40_000, 100_000, 300_000, 700_000, 1_000_000]
EVENT_LOOPS = ["uvloop", "asyncio"]
REGION_MIN_BYTES = 64 * 1024


def kio(api: str, version: int) -> Any:
    """kio's request classes for one API version (built by keyword, checked by kio)."""
    return importlib.import_module(f"kio.schema.{api}.v{version}.request")


def produce_request(topic: str, records_by_partition: Sequence[bytes]) -> Any:
    schema = kio("produce", 9)
    return schema.ProduceRequest(
        transactional_id=None,
        acks=1,
        timeout=timedelta(seconds=10),
        topic_data=(
            schema.TopicProduceData(
                name=topic,
                partition_data=tuple(
                    schema.PartitionProduceData(index=i, records=records)
                    for i, records in enumerate(records_by_partition)
                ),
            ),
        ),
    )


def metadata_request(topic: str, create: bool = True) -> Any:
    schema = kio("metadata", 12)
    return schema.MetadataRequest(
        topics=(schema.MetadataRequestTopic(topic_id=None, name=topic),),
        allow_auto_topic_creation=create,
        include_topic_authorized_operations=False,
    )


# ------------------------------------------------------------------ the loaded broker


@dataclass
class Loaded:
    """A broker with one disk partition holding ~8 MiB over 1 MiB segments."""

    broker: BrokerProcess
    topic: str
    topic_id: uuid.UUID
    values: list[bytes] = field(default_factory=list)  # by offset

    @property
    def partition_dir(self) -> Path:
        return self.broker.data_dir / f"{self.topic}-0"

    def log_bytes(self) -> bytes:
        """The partition's segment files, oldest first: every batch as stored."""
        files = sorted(self.partition_dir.glob("*.log"))
        assert len(files) > 4
        return b"".join(path.read_bytes() for path in files)

    def expected_records(self, offset: int, limit: int) -> bytes:
        """What a fetch at `offset` must return: whole batches from the one holding `offset`,
        as many as fit in `limit` (at least one)."""
        data = self.log_bytes()
        batches = [(pos, header) for pos, header in iter_batches(data)]
        assert sum(header.size for _, header in batches) == len(data)
        first = next(i for i, (_, header) in enumerate(batches) if header.last_offset >= offset)
        start = batches[first][0]
        end = start + batches[first][1].size
        for pos, header in batches[first + 1 :]:
            if pos + header.size - start > limit:
                break
            end = pos + header.size
        return data[start:end]


def produce_log(raw: RawKafka, topic: str, total: int, seed: int) -> list[bytes]:
    """Batches of 16 KiB to 1 MB, 1-6 records each, until `total` bytes; values are distinct
    (each starts with its offset) and otherwise random."""
    rng = random.Random(seed)
    values: list[bytes] = []
    produced = 0
    while produced < total:
        size = rng.choice(BATCH_BYTES)
        count = rng.randint(1, 6)
        records = []
        for i in range(count):
            prefix = f"{len(values) + i}:".encode()
            value = prefix + rng.randbytes(size // count - len(prefix) - 100)
            records.append(Record(key=None, value=value, timestamp_ms=1_700_000_000_000))
        batch = build_batch(records)
        response = raw.call(0, 9, produce_request(topic, [batch]))
        partition = response.responses[0].partition_responses[0]
        assert partition.error_code == ErrorCode.none
        assert partition.base_offset == len(values)
        values.extend(r.value or b"" for r in records)
        produced += len(batch)
    return values


def metadata(raw: RawKafka, topic: str) -> Any:
    response = raw.call(METADATA, 12, metadata_request(topic))
    assert response.topics[0].error_code == ErrorCode.none
    return response


@pytest.fixture(scope="module", params=EVENT_LOOPS)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    data_dir = tmp_path_factory.mktemp(f"sendfile-{request.param}") / "data"
    args = ["--event-loop", str(request.param), "--set", f"storage.segment_bytes={SEGMENT_BYTES}"]
    with BrokerProcess(data_dir, *args) as broker, RawKafka(broker.bootstrap, 30) as raw:
        topic = "sendfile"
        topic_id = metadata(raw, topic).topics[0].topic_id
        values = produce_log(raw, topic, LOG_BYTES, seed=11)
        yield Loaded(broker, topic, topic_id, values)
        assert "Traceback" not in broker.log()


# ------------------------------------------------------------------ fetch helpers


def fetch_request(
    version: int,
    loaded: Loaded,
    offset: int,
    max_bytes: int,
    partition_max_bytes: int | None = None,
    *,
    min_bytes: int = 1,
    max_wait_ms: int = 0,
) -> Any:
    """A sessionless Fetch of partition 0 in any version (by topic id from v13)."""
    schema = kio("fetch", version)
    partition = schema.FetchPartition(
        partition=0,
        fetch_offset=offset,
        partition_max_bytes=max_bytes if partition_max_bytes is None else partition_max_bytes,
    )
    if version >= 13:
        topic = schema.FetchTopic(topic_id=loaded.topic_id, partitions=(partition,))
    else:
        topic = schema.FetchTopic(topic=loaded.topic, partitions=(partition,))
    extra: dict[str, Any] = {}
    if version >= 7:
        extra["forgotten_topics_data"] = ()
    return schema.FetchRequest(
        max_wait=timedelta(milliseconds=max_wait_ms),
        min_bytes=min_bytes,
        max_bytes=max_bytes,
        topics=(topic,),
        **extra,
    )


def records_of(response: Any) -> bytes:
    assert response.responses, response
    partition = response.responses[0].partitions[0]
    assert partition.error_code == ErrorCode.none
    return bytes(partition.records or b"")


def newest_fetch_version(raw: RawKafka) -> int:
    request = kio("api_versions", 3).ApiVersionsRequest(
        client_software_name="t", client_software_version="1"
    )
    response = raw.call(18, 3, request)
    (fetch,) = [key for key in response.api_keys if key.api_key == FETCH]
    return int(fetch.max_version)


def values_at(loaded: Loaded, records: bytes, offset: int) -> None:
    """The records decode to the values produced at their offsets, consecutively."""
    decoded = decode_batches(records)
    assert decoded and decoded[0].offset <= offset
    assert [r.offset for r in decoded] == list(range(decoded[0].offset, decoded[-1].offset + 1))
    assert [r.value for r in decoded] == loaded.values[decoded[0].offset : decoded[-1].offset + 1]


class SlowReader(RawKafka):
    """A raw client whose receive buffer is tiny (set before connecting, so the window stays
    small): the broker's socket fills long before a large response is written."""

    def __init__(self, bootstrap: str, rcvbuf: int = 4096, timeout: float = 30.0) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, int(port)))
        self.correlation_id = 0


def unread_bytes(sock: socket.socket) -> int:
    """How much of the response already arrived (without reading it)."""
    try:
        return len(sock.recv(1 << 24, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return 0


# ------------------------------------------------------------------ every Fetch version


@pytest.mark.parametrize("version", [4, 11, 12, -1], ids=["v4", "v11", "v12", "newest"])
def test_fetch_returns_exactly_the_segment_bytes(loaded: Loaded, version: int) -> None:
    with RawKafka(loaded.broker.bootstrap, 30) as raw:
        if version == -1:
            version = newest_fetch_version(raw)
            assert version >= 13  # by topic id
        end = len(loaded.values)
        # An offset inside a batch of several records: the batch comes whole, from its base.
        inside = next(
            header.base_offset + 1
            for _, header in iter_batches(loaded.log_bytes())
            if header.record_count > 2 and header.base_offset > 10
        )
        cases = [
            (inside, 3 * 1024 * 1024, None),
            (end // 2, 2 * 1024 * 1024, 1_500_000),  # partition limit below the request's
            (end - 1, 16 * 1024 * 1024, None),  # the last batch only
            (end // 4, 70_000, None),  # around the region threshold
            (end // 3, 1000, None),  # one whole batch, however far above the limit
        ]
        for offset, max_bytes, partition_max in cases:
            limit = min(max_bytes, partition_max or max_bytes)
            response = raw.call(
                FETCH, version, fetch_request(version, loaded, offset, max_bytes, partition_max)
            )
            records = records_of(response)
            assert records == loaded.expected_records(offset, limit), (version, offset)
            assert response.responses[0].partitions[0].high_watermark == end
            values_at(loaded, records, offset)
        # The whole log, every segment, in one response.
        whole = records_of(
            raw.call(FETCH, version, fetch_request(version, loaded, 0, 16 * 1024 * 1024))
        )
        assert whole == loaded.log_bytes()
        assert [r.value for r in decode_batches(whole)] == loaded.values


# ------------------------------------------------------------------ a slow reader


def test_a_slow_reader_gets_the_same_bytes(loaded: Loaded) -> None:
    request = fetch_request(12, loaded, 3, 7 * 1024 * 1024)
    with RawKafka(loaded.broker.bootstrap, 30) as normal:
        normal.send(FETCH, 12, request)
        expected = normal.read_frame()
    assert len(expected) > 6 * 1024 * 1024
    with SlowReader(loaded.broker.bootstrap) as slow:
        slow.send(FETCH, 12, request)
        time.sleep(0.5)
        # The socket took only part of it: the rest waits in the broker, in order.
        assert unread_bytes(slow.sock) < len(expected) // 2
        frame = slow.read_frame()
    assert frame == expected
    values_at(loaded, records_of(decode_response(FETCH, 12, frame)), 3)


def pipelined_requests(loaded: Loaded) -> list[tuple[int, int, Any]]:
    end = len(loaded.values)
    return [
        (FETCH, 12, fetch_request(12, loaded, 0, 6 * 1024 * 1024)),
        (FETCH, 11, fetch_request(11, loaded, end // 2, 3 * 1024 * 1024)),
        (METADATA, 12, metadata_request(loaded.topic, create=False)),
        (FETCH, 4, fetch_request(4, loaded, end // 3, 2 * 1024 * 1024)),
    ]


@pytest.mark.parametrize("apart", [False, True], ids=["one-send", "sent-apart"])
@pytest.mark.parametrize("metadata_first", [False, True], ids=["fetch-first", "metadata-first"])
def test_pipelined_fetches_and_metadata_to_a_slow_reader(
    loaded: Loaded, apart: bool, metadata_first: bool
) -> None:
    """One send: the broker answers all of them in one write. Apart: each response is
    written while the ones before it still wait in the transport."""
    requests = pipelined_requests(loaded)
    if metadata_first:
        requests.insert(0, requests.pop(2))
    with RawKafka(loaded.broker.bootstrap, 30) as normal:
        expected = []
        for api_key, version, request in requests:
            normal.send(api_key, version, request)
            expected.append(normal.read_frame())
    frames = [encode_request(k, v, i + 1, "raw", r) for i, (k, v, r) in enumerate(requests)]
    with SlowReader(loaded.broker.bootstrap) as slow:
        if apart:
            for frame in frames:
                slow.send_raw(frame)
                time.sleep(0.1)
        else:
            slow.send_raw(b"".join(frames))
        time.sleep(0.5)
        got = [slow.read_frame() for _ in frames]
    assert [struct.unpack_from(">i", f)[0] for f in got] == [1, 2, 3, 4]
    for (api_key, version, _), frame, want in zip(requests, got, expected, strict=True):
        if api_key == FETCH:
            assert frame == want
            assert len(records_of(decode_response(FETCH, version, frame))) > REGION_MIN_BYTES
        else:
            response = decode_response(METADATA, version, frame)
            assert response.topics[0].name == loaded.topic


# ------------------------------------------------------------------ descriptors


def broker_fds(broker: BrokerProcess) -> int:
    assert broker.proc is not None
    return len(os.listdir(f"/proc/{broker.proc.pid}/fd"))


def settle(broker: BrokerProcess, at_most: int, timeout: float = 5.0) -> int:
    """The broker's open descriptors, once at most `at_most` or after `timeout` seconds
    (closed connections are released a loop iteration or two later)."""
    deadline = time.monotonic() + timeout
    while (count := broker_fds(broker)) > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def abandon(loaded: Loaded, request: Any, *, reset: bool, wait: float = 0.0) -> None:
    """Send a fetch and close the connection without reading its response (with an RST if
    `reset`), after `wait` seconds."""
    with SlowReader(loaded.broker.bootstrap, rcvbuf=4096) as raw:
        raw.send(FETCH, 12, request)
        if wait:
            time.sleep(wait)
        if reset:
            raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def warm_up(loaded: Loaded) -> int:
    """Fetch from every segment once (their indexes load on first use); the broker's open
    descriptors after that."""
    end = len(loaded.values)
    with RawKafka(loaded.broker.bootstrap, 30) as raw:
        for offset in range(0, end, max(end // 20, 1)):
            records_of(raw.call(FETCH, 12, fetch_request(12, loaded, offset, 2 * 1024 * 1024)))
    time.sleep(0.3)
    return broker_fds(loaded.broker)


def test_no_descriptor_leaks_after_many_large_fetches(loaded: Loaded) -> None:
    broker = loaded.broker
    end = len(loaded.values)
    rng = random.Random(5)
    baseline = warm_up(loaded)
    done = 0
    with RawKafka(broker.bootstrap, 30) as raw:
        for _ in range(140):
            offset = rng.randrange(end)
            max_bytes = rng.choice([200_000, 2 * 1024 * 1024])
            assert records_of(raw.call(FETCH, 12, fetch_request(12, loaded, offset, max_bytes)))
            done += 1
        for _ in range(10):  # long polls that find too little, answered at max_wait
            long_poll = fetch_request(
                12, loaded, rng.randrange(end), 2 * 1024 * 1024, min_bytes=10**9, max_wait_ms=30
            )
            assert records_of(raw.call(FETCH, 12, long_poll))
            done += 1
    # Closed before the response is read: while the broker sends it, or before it starts,
    # with a FIN or an RST.
    for i in range(50):
        request = fetch_request(12, loaded, rng.randrange(end), 6 * 1024 * 1024)
        abandon(loaded, request, reset=i % 2 == 0, wait=0.02 * (i % 3))
        done += 1
    assert done == 200
    after = settle(broker, baseline + 3)
    assert after <= baseline + 3, (baseline, after)
    with RawKafka(broker.bootstrap, 30) as raw:  # and it still serves
        assert records_of(raw.call(FETCH, 12, fetch_request(12, loaded, 0, 1024 * 1024)))


def test_a_long_poll_dropped_while_it_waits_releases_its_regions(loaded: Loaded) -> None:
    end = len(loaded.values)
    rng = random.Random(6)
    baseline = warm_up(loaded)
    for i in range(10):
        long_poll = fetch_request(
            12,
            loaded,
            rng.randrange(end // 2),
            2 * 1024 * 1024,
            min_bytes=10**9,
            max_wait_ms=300,
        )
        abandon(loaded, long_poll, reset=i % 2 == 0, wait=0.05)
    after = settle(loaded.broker, baseline + 3, timeout=1.5)
    assert after <= baseline + 3, (baseline, after)


# ------------------------------------------------------------------ librdkafka


def test_confluent_kafka_consumes_every_message_intact(loaded: Loaded) -> None:
    topic = f"sendfile-confluent-{uuid.uuid4().hex[:8]}"
    rng = random.Random(3)
    sizes = [100, 3_000, 40_000, 150_000, 600_000, 900_000]
    values: list[bytes] = []
    while sum(map(len, values)) < LOG_BYTES:
        values.append(f"{len(values)}:".encode() + rng.randbytes(rng.choice(sizes)))
    producer = Producer({"bootstrap.servers": loaded.broker.bootstrap, "linger.ms": 5})
    failures: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            failures.append(err)

    for value in values:
        producer.produce(topic, value=value, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not failures
    consumer = Consumer(
        {
            "bootstrap.servers": loaded.broker.bootstrap,
            "group.id": "sendfile",
            "enable.auto.commit": False,
            "max.partition.fetch.bytes": 4 * 1024 * 1024,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    received: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + 30
    try:
        while len(received) < len(values) and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.5):
                error = msg.error()
                if error is not None:
                    assert error.code() == KafkaError._PARTITION_EOF, error
                    continue
                at, payload = msg.offset(), msg.value()
                assert at is not None and payload is not None
                received.append((at, payload))
    finally:
        consumer.close()
    assert [offset for offset, _ in received] == list(range(len(values)))
    assert [value for _, value in received] == values


# ------------------------------------------------------------------ many partitions


def batch_of(value: bytes) -> bytes:
    return build_batch([Record(key=None, value=value, timestamp_ms=1_700_000_000_000)])


def test_a_fetch_of_many_small_partitions_then_a_large_one(tmp_path: Path) -> None:
    """Each partition with data adds two buffers (its metadata and its records) ahead of the
    region of the last partition: 520 partitions put 1039 of them in one response, more
    than one writev takes (IOV_MAX, 1024 on Linux)."""
    partitions = 520
    with BrokerProcess(tmp_path / "data") as broker, RawKafka(broker.bootstrap, 30) as raw:
        topic = "many"
        schema = kio("create_topics", 7)
        create = schema.CreateTopicsRequest(
            topics=(
                schema.CreatableTopic(
                    name=topic,
                    num_partitions=partitions,
                    replication_factor=1,
                    assignments=(),
                    configs=(),
                ),
            ),
            timeout=timedelta(seconds=30),
            validate_only=False,
        )
        assert raw.call(19, 7, create).topics[0].error_code == ErrorCode.none
        big = os.urandom(200_000)
        small = [batch_of(b"small %d" % i) for i in range(partitions - 1)]
        produced = raw.call(0, 9, produce_request(topic, [*small, batch_of(big)]))
        answers = produced.responses[0].partition_responses
        assert all(p.error_code == ErrorCode.none for p in answers)
        schema = kio("fetch", 12)
        request = schema.FetchRequest(
            max_wait=timedelta(0),
            min_bytes=1,
            max_bytes=50_000_000,
            topics=(
                schema.FetchTopic(
                    topic=topic,
                    partitions=tuple(
                        schema.FetchPartition(
                            partition=i, fetch_offset=0, partition_max_bytes=1_000_000
                        )
                        for i in range(partitions)
                    ),
                ),
            ),
            forgotten_topics_data=(),
        )
        response = raw.call(FETCH, 12, request)
        fetched = response.responses[0].partitions
        got = {p.partition_index: decode_batches(p.records) for p in fetched}
    assert [r.value for r in got[partitions - 1]] == [big]
    assert all([r.value for r in got[i]] == [b"small %d" % i] for i in range(partitions - 1))


# ------------------------------------------------------------------ the writer itself


def make_file(directory: Path, size: int, seed: int) -> tuple[Path, bytes]:
    data = random.Random(seed).randbytes(size)
    path = directory / f"segment-{seed}.log"
    path.write_bytes(data)
    return path, data


def region(path: Path, position: int, size: int) -> FileRegion:
    return FileRegion(os.open(path, os.O_RDONLY), position, size, 0, 0)


def joined(chunks: Sequence[ResponseChunk]) -> bytes:
    """The chunks' bytes (read before the writer closes the regions)."""
    return b"".join(bytes(chunk) for chunk in chunks)


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    return uvloop.new_event_loop if name == "uvloop" else asyncio.new_event_loop


def read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


async def connected_pair(rcvbuf: int) -> tuple[asyncio.Transport, socket.socket]:
    """A transport of the running loop (the broker's side) and a blocking peer socket with a
    small receive buffer (the client's)."""
    loop = asyncio.get_running_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    client.connect(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    server.setblocking(False)
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, server)
    client.settimeout(20)
    return transport, client


LAYOUTS: dict[str, list[tuple[str, int]]] = {
    # name: [("plain", size) | ("region", size)]: regions between small buffers
    "regions-between-buffers": [
        ("plain", 30),
        ("region", 3 << 20),
        ("plain", 200),
        ("region", 1 << 20),
        ("plain", 10),
    ],
    # a buffer larger than the socket takes before the first region (writev partial)
    "large-buffer-first": [("plain", 2 << 20), ("region", 1 << 20), ("plain", 5)],
    "one-region": [("region", 5 << 20)],
    "small-region": [("plain", 8), ("region", 70_000)],
}


def build_chunks(
    layout: list[tuple[str, int]], path: Path, data: bytes, rng: random.Random
) -> list[ResponseChunk]:
    chunks: list[ResponseChunk] = []
    position = 0
    for kind, size in layout:
        if kind == "plain":
            chunks.append(memoryview(rng.randbytes(size)))
        else:
            chunks.append(region(path, position, size))
            position += size
    assert position <= len(data)
    return chunks


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("loop_name", EVENT_LOOPS)
def test_writer_on_a_full_socket_keeps_every_byte_in_order(
    tmp_path: Path, loop_name: str, layout: str
) -> None:
    path, data = make_file(tmp_path, 10 << 20, seed=1)
    rng = random.Random(2)

    async def scenario() -> None:
        transport, client = await connected_pair(rcvbuf=4096)
        try:
            writer = ResponseWriter(transport)
            responses: list[list[ResponseChunk]] = [
                build_chunks(LAYOUTS[layout], path, data, rng),
                [memoryview(rng.randbytes(1000))],  # a plain response behind it
                build_chunks([("plain", 20), ("region", 200_000)], path, data, rng),
            ]
            expected = b"".join(joined(chunks) for chunks in responses)
            regions = [c for chunks in responses for c in chunks if isinstance(c, FileRegion)]
            fds = len(os.listdir("/proc/self/fd"))
            writer.write(responses[0])
            if sum(len(c) for c in responses[0]) > (1 << 20):
                # The socket could not take it all: the rest waits in the transport.
                assert transport.get_write_buffer_size() > 0
            for chunks in responses[1:]:
                writer.write(chunks)
            assert all(r.fd == -1 for r in regions)
            assert len(os.listdir("/proc/self/fd")) == fds - len(regions)
            loop = asyncio.get_running_loop()
            got = await loop.run_in_executor(None, read_exactly, client, len(expected))
            assert got == expected
        finally:
            transport.close()
            client.close()

    with asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
        runner.run(scenario())


class RecordingTransport(asyncio.Transport):
    """A transport the writer may not write around: TLS (an sslcontext), or no socket."""

    def __init__(self, extra: dict[str, Any]) -> None:
        super().__init__(extra)
        self.written: list[bytes] = []

    def writelines(self, list_of_data: Any) -> None:
        self.written.extend(bytes(chunk) for chunk in list_of_data)

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0


@pytest.mark.parametrize("kind", ["tls", "no-socket"])
def test_writer_reads_regions_where_it_cannot_sendfile(tmp_path: Path, kind: str) -> None:
    path, data = make_file(tmp_path, 1 << 20, seed=3)
    with socket.socket() as sock:
        extra: dict[str, Any] = {"socket": sock}
        if kind == "tls":
            extra["sslcontext"] = object()
        else:
            extra = {}
        transport = RecordingTransport(extra)
        chunks: list[ResponseChunk] = [b"head", region(path, 10, 300_000), memoryview(b"tail")]
        regions = [c for c in chunks if isinstance(c, FileRegion)]
        ResponseWriter(transport).write(chunks)
    assert b"".join(transport.written) == b"head" + data[10:300_010] + b"tail"
    assert all(r.fd == -1 for r in regions)


@pytest.mark.parametrize("loop_name", EVENT_LOOPS)
def test_writer_raises_when_the_peer_is_gone_and_closes_regions(
    tmp_path: Path, loop_name: str
) -> None:
    path, _ = make_file(tmp_path, 4 << 20, seed=4)

    async def scenario() -> None:
        transport, client = await connected_pair(rcvbuf=4096)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # an RST, which the loop has not seen yet: the next write fails
        chunks: list[ResponseChunk] = [b"head", region(path, 0, 4 << 20)]
        with pytest.raises(OSError):
            ResponseWriter(transport).write(chunks)
        assert isinstance(chunks[1], FileRegion) and chunks[1].fd == -1
        transport.close()

    with asyncio.Runner(loop_factory=loop_factory(loop_name)) as runner:
        runner.run(scenario())


def test_writer_with_more_buffers_than_writev_takes(tmp_path: Path) -> None:
    path, data = make_file(tmp_path, 1 << 20, seed=5)

    async def scenario() -> None:
        transport, client = await connected_pair(rcvbuf=1 << 20)
        try:
            head: list[ResponseChunk] = [b"%d," % i for i in range(1100)]
            ResponseWriter(transport).write([*head, region(path, 0, 100_000)])
            expected = joined(head) + data[:100_000]
            loop = asyncio.get_running_loop()
            got = await loop.run_in_executor(None, read_exactly, client, len(expected))
            assert got == expected
        finally:
            transport.close()
            client.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())


def test_confluent_sees_no_torn_responses_while_another_client_reads_slowly(
    loaded: Loaded,
) -> None:
    """A slow raw reader and librdkafka on the same broker at once: neither corrupts the other
    (each connection's writer only writes its own socket)."""
    stop = threading.Event()
    errors: list[BaseException] = []
    request = fetch_request(12, loaded, 0, 6 * 1024 * 1024)

    def slow_loop() -> None:
        try:
            with RawKafka(loaded.broker.bootstrap, 30) as normal:
                normal.send(FETCH, 12, request)
                expected = normal.read_frame()
            while not stop.is_set():
                with SlowReader(loaded.broker.bootstrap) as slow:
                    slow.send(FETCH, 12, request)
                    time.sleep(0.1)
                    assert slow.read_frame() == expected
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=slow_loop)
    thread.start()
    try:
        consumer = Consumer(
            {
                "bootstrap.servers": loaded.broker.bootstrap,
                "group.id": "sendfile-side-by-side",
                "enable.auto.commit": False,
            }
        )
        consumer.assign([TopicPartition(loaded.topic, 0, OFFSET_BEGINNING)])
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        try:
            while len(got) < len(loaded.values) and time.monotonic() < deadline:
                for msg in consumer.consume(500, timeout=0.5):
                    value = msg.value()
                    if msg.error() is None and value is not None:
                        got.append(value)
        finally:
            consumer.close()
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert got == loaded.values
