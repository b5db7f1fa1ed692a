"""A raw Fetch client: how fast a broker *serves* a topic, with next to no client cost.

The librdkafka consumer decodes every record into a Python message object; with 100 B messages
that pins the benchmark client at ~100% of a core while the broker idles, so its figure is the
client's. This client reads the way a replica follower or a mirror that copies batches does:
one plain socket per broker with one Fetch in flight (as librdkafka keeps per broker), every
partition from offset 0, and records counted from the v2 batch headers (`recordCount`) without
decoding a single record. Its cost per response is one `recv` copy, a walk over the response's
fields and one over the batch headers; per message, nothing.

    counted = fetch_count("127.0.0.1:9092", "topic", expected=1_000_000, max_seconds=30)

Protocol: ApiVersions v0 on each connection picks the Fetch version (the newest non-flexible
one, v11, when both sides have it; otherwise the newest both have in 4-12, the versions that
name topics instead of topic ids) and the Metadata version (the newest both have, <= 12).
Requests are kio's types through `rafka.protocol.encode_request`. Responses of the
non-flexible versions 4-11 are read by `fetch_partitions()`, a walk over their fixed layout that
returns each partition's records as a view of the receive buffer: kio's decoder would copy every
record byte once more (measured here: ~40 ms per 64 MiB response, as much as the `recv`
itself, and with one Fetch in flight that time adds straight to the figure). The tests check
the walk against kio's decoder for every version it covers; v12 goes through kio
(`decode_response`).
Metadata tells which broker leads each partition; a partition led elsewhere gets a connection
to that broker. Leadership errors (NOT_LEADER_OR_FOLLOWER and friends) re-read the metadata a
few times and move the partition; OFFSET_OUT_OF_RANGE and every other error end the run with a
`RawFetchError` that names the partition, the offset and the error.
"""

from __future__ import annotations

import importlib
import selectors
import socket
import struct
import time
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, NamedTuple

from kio.schema.errors import ErrorCode

from rafka.bench._workload import Progress, no_progress
from rafka.protocol import ApiKey, decode_response, encode_request, request_class
from rafka.protocol.client_codec import response_correlation_id
from rafka.records.batch import iter_batches

__all__ = [
    "MAX_BYTES",
    "MAX_WAIT_MS",
    "MIN_BYTES",
    "PARTITION_MAX_BYTES",
    "Counted",
    "FetchCount",
    "PartitionRecords",
    "RawFetchClient",
    "RawFetchError",
    "count_records",
    "fetch_count",
    "fetch_partitions",
]

MAX_WAIT_MS = 500  # librdkafka's fetch.wait.max.ms
MIN_BYTES = 1  # librdkafka's fetch.min.bytes
# Kafka's replica fetcher defaults (replica.fetch.response.max.bytes, replica.fetch.max.bytes):
# what a follower asks of a leader. librdkafka's consumer also takes 1 MiB per partition.
MAX_BYTES = 10 << 20  # per response
PARTITION_MAX_BYTES = 1 << 20  # per partition per response
CLIENT_ID = "rafka-bench-fetch"

# Fetch versions in order of preference: v11 is the newest non-flexible one (no tagged fields to
# walk); 12 is flexible; 13 and later name topics by id, which this client does not look up.
_FETCH_PREFERENCE = (11, 10, 9, 8, 7, 6, 5, 4, 12)
_METADATA_MAX = 12
_MAX_FRAME = MAX_BYTES + (16 << 20)  # a response may exceed max_bytes by one batch (KIP-74)
_TICK = 0.1  # seconds between progress reports
_REFRESHES = 10  # metadata re-reads after leadership errors before giving up
_LEADERSHIP_ERRORS = frozenset({
    ErrorCode.not_leader_or_follower, ErrorCode.leader_not_available,
    ErrorCode.unknown_topic_or_partition, ErrorCode.fenced_leader_epoch,
    ErrorCode.unknown_leader_epoch, ErrorCode.replica_not_available,
})


class RawFetchError(RuntimeError):
    """The broker answered something this client cannot go on from; the message says what."""


@dataclass(frozen=True, slots=True)
class FetchCount:
    """What one run of the raw Fetch client counted.

    `seconds` runs from sending the first Fetch to the arrival of the response that completed
    the count (or, when the cap ended the run first, of the last response that carried records).
    """

    messages: int  # records counted, control batches excluded
    batches: int
    responses: int  # Fetch responses received (empty long-poll answers included)
    record_bytes: int  # record batch bytes received, headers and framing included
    seconds: float
    capped: bool  # the time cap ended the run before `expected` records were counted
    fetch_version: int
    brokers: int  # connections that fetched


# ------------------------------------------------------------------------------ responses
class PartitionRecords(NamedTuple):
    """One partition of a Fetch response, as far as this client needs it."""

    topic: str
    partition: int
    error_code: int
    high_watermark: int
    log_start_offset: int  # -1 before v5
    records: bytes | memoryview | None


_WALKED = range(4, 12)  # non-flexible Fetch versions with topic names
_HEAD = struct.Struct(">ihqq")  # partition, error code, high watermark, last stable offset
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


def fetch_partitions(frame: memoryview, version: int) -> tuple[int, list[PartitionRecords]]:
    """(top-level error code, partitions) of a Fetch response frame (without its size prefix,
    correlation id included). Versions 4-11 are walked without copying records (they are
    views of `frame`); other versions are decoded by kio."""
    if version not in _WALKED:
        response = decode_response(ApiKey.FETCH, version, frame)
        return int(getattr(response, "error_code", 0)), [
            PartitionRecords(t.topic, int(p.partition_index), int(p.error_code),
                             int(p.high_watermark), int(getattr(p, "log_start_offset", -1)),
                             p.records)
            for t in response.responses for p in t.partitions]
    try:
        pos = 8  # correlation id, throttle time
        error = 0
        if version >= 7:
            error = _I16.unpack_from(frame, pos)[0]
            pos += 6  # error code, session id
        out = []
        (topics,) = _I32.unpack_from(frame, pos)
        pos += 4
        for _ in range(topics):
            (n,) = _I16.unpack_from(frame, pos)
            topic = bytes(frame[pos + 2 : pos + 2 + n]).decode()
            (parts,) = _I32.unpack_from(frame, pos + 2 + n)
            pos += 6 + n
            for _ in range(parts):
                partition, code, high_watermark, _lso = _HEAD.unpack_from(frame, pos)
                pos += _HEAD.size
                log_start = -1
                if version >= 5:
                    (log_start,) = _I64.unpack_from(frame, pos)
                    pos += 8
                (aborted,) = _I32.unpack_from(frame, pos)
                pos += 4 + 16 * max(aborted, 0)
                if version >= 11:
                    pos += 4  # preferred read replica
                (size,) = _I32.unpack_from(frame, pos)
                pos += 4
                records = None
                if size >= 0:
                    if pos + size > len(frame):
                        raise ValueError(f"records of {size} bytes overrun the frame")
                    records = frame[pos : pos + size]
                    pos += size
                out.append(PartitionRecords(topic, partition, code, high_watermark, log_start,
                                            records))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise RawFetchError(f"malformed Fetch v{version} response: {exc}") from exc
    return error, out


class Counted(NamedTuple):
    messages: int  # records at or after the fetch offset, control batches excluded
    batches: int  # whole batches seen
    nbytes: int  # bytes of those batches
    next_offset: int  # where the next Fetch of this partition starts


def count_records(records: bytes | memoryview, offset: int) -> Counted:
    """Count the records of the whole v2 batches in `records` from their headers alone.

    A broker may return the batch that holds `offset` from its start, so records before
    `offset` are not counted; a trailing partial batch (cut by the size limits) is left for the
    next Fetch, which starts after the last whole batch.
    """
    messages = batches = nbytes = 0
    next_offset = offset
    for _pos, h in iter_batches(records):
        batches += 1
        nbytes += h.size
        last = h.last_offset
        if last < offset:  # wholly before the fetch offset
            continue
        next_offset = last + 1
        if not h.is_control:  # a transaction marker is not a message
            messages += h.record_count - max(0, offset - h.base_offset)
    return Counted(messages, batches, nbytes, next_offset)


# ------------------------------------------------------------------------------ schemas
@dataclass(frozen=True, slots=True)
class _Schema:
    """kio's request class of one API version and its nested classes, by name."""

    version: int
    request: type[Any]
    nested: dict[str, type[Any]]
    names: frozenset[str]  # the request's own field names

    @classmethod
    def load(cls, api_key: int, version: int) -> _Schema:
        request = request_class(api_key, version)
        module = importlib.import_module(request.__module__)
        nested = {name: value for name, value in vars(module).items()
                  if isinstance(value, type) and hasattr(value, "__dataclass_fields__")}
        return cls(version, request, nested, frozenset(f.name for f in fields(request)))

    def build(self, **values: Any) -> Any:
        """The request with the values its version has fields for (the rest are dropped)."""
        return self.request(**{k: v for k, v in values.items() if k in self.names})


def _api_versions_request() -> Any:
    return request_class(ApiKey.API_VERSIONS, 0)()


def _metadata_request(schema: _Schema, topic: str) -> Any:
    topic_cls = schema.nested["MetadataRequestTopic"]
    topic_names = {f.name for f in fields(topic_cls)}
    entry = topic_cls(name=topic, **({"topic_id": None} if "topic_id" in topic_names else {}))
    return schema.build(topics=(entry,), allow_auto_topic_creation=False,
                        include_cluster_authorized_operations=False,
                        include_topic_authorized_operations=False)


def _fetch_request(schema: _Schema, topic: str, offsets: dict[int, int]) -> Any:
    part_cls, topic_cls = schema.nested["FetchPartition"], schema.nested["FetchTopic"]
    parts = tuple(part_cls(partition=p, fetch_offset=offset,
                           partition_max_bytes=PARTITION_MAX_BYTES)
                  for p, offset in sorted(offsets.items()))
    return schema.build(max_wait=timedelta(milliseconds=MAX_WAIT_MS), min_bytes=MIN_BYTES,
                        max_bytes=MAX_BYTES, topics=(topic_cls(topic=topic, partitions=parts),),
                        forgotten_topics_data=())


def _pick(theirs: tuple[int, int] | None, preference: tuple[int, ...], what: str,
          address: str) -> int:
    if theirs is None:
        raise RawFetchError(f"{address} does not offer {what} in its ApiVersions answer")
    lo, hi = theirs
    for v in preference:
        if lo <= v <= hi:
            return v
    raise RawFetchError(f"{address} serves {what} v{lo}-{hi}; this client speaks "
                        f"v{min(preference)}-{max(preference)}")


# ------------------------------------------------------------------------------ one socket
class _Connection:
    """One non-blocking socket to one broker, with at most one request in flight."""

    def __init__(self, address: str, timeout: float) -> None:
        host, _, port = address.rpartition(":")
        try:
            self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        except (OSError, ValueError) as exc:
            raise RawFetchError(f"cannot connect to {address}: {exc}") from exc
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.address = address
        self.timeout = timeout
        self.versions: dict[int, tuple[int, int]] = {}
        self.fetch: _Schema | None = None
        self.partitions: set[int] = set()
        self.in_flight: tuple[int, int, int] | None = None  # (api key, version, correlation id)
        self._correlation_id = 0
        self._prefix = bytearray(4)
        self._have = 0  # bytes of the size prefix received
        # Reused for every response, and replaced rather than resized to grow, so a view of an
        # earlier frame that someone still holds never blocks (or sees) the next one.
        self._buf = bytearray()
        self._view: memoryview | None = None  # the frame being received
        self._filled = 0

    def close(self) -> None:
        self.sock.close()

    def send(self, api_key: int, version: int, request: Any) -> None:
        assert self.in_flight is None, "one request in flight per connection"
        self._correlation_id += 1
        data = encode_request(api_key, version, self._correlation_id, CLIENT_ID, request)
        self.sock.setblocking(True)  # requests are small: write them whole
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise RawFetchError(f"{self.address}: sending failed: {exc}") from exc
        finally:
            self.sock.setblocking(False)
        self.in_flight = (api_key, version, self._correlation_id)

    def receive(self) -> memoryview | None:
        """Read what the socket has; the response frame (a read-only view of the receive
        buffer, valid until the next request is sent) once it is complete."""
        frame = self._read()
        if frame is None:
            return None
        assert self.in_flight is not None
        correlation_id = self.in_flight[2]
        self.in_flight = None
        if response_correlation_id(frame) != correlation_id:
            raise RawFetchError(f"{self.address}: response to correlation id "
                                f"{response_correlation_id(frame)}, expected {correlation_id}")
        return frame

    def call(self, api_key: int, version: int, request: Any) -> Any:
        """Send and wait for the decoded answer (setup and metadata, never with a Fetch in
        flight)."""
        self.send(api_key, version, request)
        deadline = time.monotonic() + self.timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            while True:
                frame = self.receive()
                if frame is not None:
                    return decode_response(api_key, version, frame)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RawFetchError(f"{self.address}: no answer to api key {api_key} "
                                        f"v{version} in {self.timeout:g} s")
                sel.select(left)

    def reserve(self, size: int) -> None:
        """Allocate (and touch) the receive buffer now, so the timed run does not."""
        if len(self._buf) < size and self._view is None:
            self._buf = bytearray(size)

    def _read(self) -> memoryview | None:
        try:
            while self._view is None:
                n = self.sock.recv_into(memoryview(self._prefix)[self._have:])
                if n == 0:
                    raise RawFetchError(f"{self.address} closed the connection")
                self._have += n
                if self._have < 4:
                    continue
                size = int.from_bytes(self._prefix, "big", signed=True)
                if not 4 <= size <= _MAX_FRAME:
                    raise RawFetchError(f"{self.address}: response frame of {size} bytes")
                if len(self._buf) < size:
                    self._buf = bytearray(size)
                self._view, self._filled, self._have = memoryview(self._buf)[:size], 0, 0
            view = self._view
            while self._filled < len(view):
                n = self.sock.recv_into(view[self._filled:])
                if n == 0:
                    raise RawFetchError(f"{self.address} closed the connection")
                self._filled += n
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            raise RawFetchError(f"{self.address}: receiving failed: {exc}") from exc
        self._view = None
        return view.toreadonly()


# ------------------------------------------------------------------------------ the client
@dataclass(slots=True)
class _Metadata:
    brokers: dict[int, str]  # node id -> advertised HOST:PORT
    leaders: dict[int, int]  # partition -> leader node id


@dataclass(slots=True)
class _Tally:
    messages: int = 0
    batches: int = 0
    record_bytes: int = 0
    responses: int = 0
    moved: set[int] = field(default_factory=set)  # partitions that need a new leader


class RawFetchClient:
    """Connections to the brokers that lead a topic's partitions. Use as a context manager."""

    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._bootstrap: _Connection | None = None
        errors = []
        for address in (a.strip() for a in bootstrap.split(",") if a.strip()):
            try:
                self._bootstrap = self._open(address)
                break
            except RawFetchError as exc:
                errors.append(str(exc))
        if self._bootstrap is None:
            raise RawFetchError("; ".join(errors) or f"no broker address in {bootstrap!r}")
        self._conns: dict[int, _Connection] = {}

    def __enter__(self) -> RawFetchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for conn in {id(c): c for c in [*self._conns.values(), self._bootstrap] if c}.values():
            conn.close()
        self._conns.clear()
        self._bootstrap = None

    def _open(self, address: str) -> _Connection:
        conn = _Connection(address, self.timeout)
        try:
            answer = conn.call(ApiKey.API_VERSIONS, 0, _api_versions_request())
            if answer.error_code != ErrorCode.none:
                raise RawFetchError(f"{address}: ApiVersions failed with "
                                    f"{_name(answer.error_code)}")
            conn.versions = {int(a.api_key): (int(a.min_version), int(a.max_version))
                             for a in answer.api_keys}
            conn.fetch = _Schema.load(ApiKey.FETCH, _pick(
                conn.versions.get(ApiKey.FETCH), _FETCH_PREFERENCE, "Fetch", address))
        except BaseException:
            conn.close()
            raise
        return conn

    def _metadata(self, conn: _Connection, topic: str, wait: float) -> _Metadata:
        """The topic's leaders, waiting up to `wait` s for every partition to have one."""
        preference = tuple(range(_METADATA_MAX, 0, -1))
        schema = _Schema.load(ApiKey.METADATA, _pick(
            conn.versions.get(ApiKey.METADATA), preference, "Metadata", conn.address))
        deadline = time.monotonic() + wait
        while True:
            answer = conn.call(ApiKey.METADATA, schema.version, _metadata_request(schema, topic))
            brokers = {int(b.node_id): f"{b.host}:{int(b.port)}" for b in answer.brokers}
            entry = next((t for t in answer.topics if t.name == topic), None)
            problem = None
            if entry is None or entry.error_code != ErrorCode.none:
                code = ErrorCode.unknown_topic_or_partition if entry is None else entry.error_code
                problem = f"topic {topic!r}: {_name(code)}"
            else:
                leaders = {int(p.partition_index): int(p.leader_id) for p in entry.partitions}
                leaderless = sorted(p for p, node in leaders.items()
                                    if node < 0 or node not in brokers)
                if not leaders:
                    problem = f"topic {topic!r} has no partitions"
                elif leaderless:
                    problem = f"topic {topic!r}: no leader for partition(s) {leaderless}"
                else:
                    return _Metadata(brokers, leaders)
            if time.monotonic() >= deadline:
                raise RawFetchError(f"{problem} (metadata from {conn.address})")
            time.sleep(0.1)

    def _connection(self, node: int, meta: _Metadata) -> _Connection:
        conn = self._conns.get(node)
        if conn is None:
            address = meta.brokers[node]
            boot = self._bootstrap
            # The bootstrap socket serves the broker it reached: the one advertising its address,
            # or the only broker there is (behind NAT the advertised address may differ).
            if boot is not None and boot not in self._conns.values() and (
                    boot.address == address or len(meta.brokers) == 1):
                conn = boot
            else:
                conn = self._open(address)
            self._conns[node] = conn
        return conn

    def count(self, topic: str, expected: int, max_seconds: float,
              progress: Progress = no_progress) -> FetchCount:
        """Fetch every partition of `topic` from offset 0 until `expected` records are counted
        or `max_seconds` have passed since the first Fetch."""
        assert self._bootstrap is not None, "client closed"
        meta = self._metadata(self._bootstrap, topic, self.timeout)
        for partition, node in meta.leaders.items():
            self._connection(node, meta).partitions.add(partition)
        offsets = dict.fromkeys(meta.leaders, 0)
        tally = _Tally()
        refreshes = 0
        with selectors.DefaultSelector() as sel:
            for conn in set(self._conns.values()):
                sel.register(conn.sock, selectors.EVENT_READ, conn)
                conn.reserve(min(MAX_BYTES, PARTITION_MAX_BYTES * len(conn.partitions)) + (1 << 20))
            t0 = time.perf_counter()
            deadline = t0 + max_seconds
            t_last = next_tick = t0
            for conn in self._conns.values():
                self._send_fetch(conn, topic, offsets)
            while tally.messages < expected:
                now = time.perf_counter()
                if now >= deadline:
                    break
                if now >= next_tick:
                    progress(min(tally.messages, expected), expected)
                    next_tick = now + _TICK
                for key, _ in sel.select(min(deadline - now, _TICK)):
                    conn = key.data
                    frame = conn.receive()
                    if frame is None:
                        continue
                    before = tally.messages
                    self._absorb(conn, frame, topic, offsets, tally)
                    if tally.messages > before:
                        t_last = time.perf_counter()
                        if tally.messages >= expected:
                            break
                    if tally.moved:
                        refreshes += 1
                        self._move(conn, topic, tally, refreshes, sel)
                    self._send_fetch(conn, topic, offsets)
                    for other in self._conns.values():  # a partition may have moved to it
                        if other.in_flight is None:
                            self._send_fetch(other, topic, offsets)
        progress(min(tally.messages, expected), expected)
        first = next(iter(self._conns.values()))
        assert first.fetch is not None
        return FetchCount(
            messages=tally.messages, batches=tally.batches, responses=tally.responses,
            record_bytes=tally.record_bytes, seconds=t_last - t0,
            capped=tally.messages < expected, fetch_version=first.fetch.version,
            brokers=len({id(c) for c in self._conns.values()}))

    def _send_fetch(self, conn: _Connection, topic: str, offsets: dict[int, int]) -> None:
        if conn.partitions and conn.in_flight is None:
            assert conn.fetch is not None
            conn.send(ApiKey.FETCH, conn.fetch.version, _fetch_request(
                conn.fetch, topic, {p: offsets[p] for p in conn.partitions}))

    def _absorb(self, conn: _Connection, frame: memoryview, topic: str,
                offsets: dict[int, int], tally: _Tally) -> None:
        """Count the records of one Fetch response and advance the offsets past them."""
        assert conn.fetch is not None
        tally.responses += 1
        error, partitions = fetch_partitions(frame, conn.fetch.version)
        if error != ErrorCode.none:
            raise RawFetchError(f"{conn.address}: Fetch failed with {_name(error)}")
        for p in partitions:
            if p.topic != topic or p.partition not in conn.partitions:
                continue
            offset = offsets[p.partition]
            if p.error_code != ErrorCode.none:
                self._partition_error(conn, p, offset, tally)
                continue
            records = p.records
            if not records:
                continue
            counted = count_records(records, offset)
            if counted.batches == 0:
                raise RawFetchError(
                    f"{conn.address}: partition {p.partition} at offset {offset} returned "
                    f"{len(records)} bytes without one whole record batch (a batch larger "
                    f"than partition_max_bytes={PARTITION_MAX_BYTES}?)")
            tally.messages += counted.messages
            tally.batches += counted.batches
            tally.record_bytes += counted.nbytes
            offsets[p.partition] = counted.next_offset

    @staticmethod
    def _partition_error(conn: _Connection, p: PartitionRecords, offset: int,
                         tally: _Tally) -> None:
        if p.error_code in _LEADERSHIP_ERRORS:
            tally.moved.add(p.partition)
            return
        where = f"{conn.address}: partition {p.partition} at offset {offset}"
        if p.error_code == ErrorCode.offset_out_of_range:
            raise RawFetchError(
                f"{where}: OFFSET_OUT_OF_RANGE (log start offset {p.log_start_offset}, "
                f"high watermark {p.high_watermark}); the log no longer starts at 0, so "
                "the benchmark cannot read back everything it wrote")
        raise RawFetchError(f"{where}: {_name(p.error_code)}")

    def _move(self, conn: _Connection, topic: str, tally: _Tally, refreshes: int,
              sel: selectors.BaseSelector) -> None:
        """Re-read the metadata (on `conn`, idle now) and move the partitions that need it."""
        moved = sorted(tally.moved)
        tally.moved.clear()
        if refreshes > _REFRESHES:
            raise RawFetchError(
                f"{conn.address}: partition(s) {moved} still report a leadership error after "
                f"{_REFRESHES} metadata refreshes")
        time.sleep(0.05 * refreshes)
        meta = self._metadata(conn, topic, self.timeout)
        for partition in moved:
            node = meta.leaders.get(partition)
            if node is None:
                raise RawFetchError(f"partition {partition} of {topic!r} no longer exists")
            known = set(self._conns.values())
            target = self._connection(node, meta)
            if target not in known:
                sel.register(target.sock, selectors.EVENT_READ, target)
            for c in self._conns.values():
                c.partitions.discard(partition)
            target.partitions.add(partition)


def _name(code: int) -> str:
    try:
        return ErrorCode(code).name.upper()
    except ValueError:
        return f"error code {code}"


def fetch_count(bootstrap: str, topic: str, expected: int, max_seconds: float,
                progress: Progress = no_progress, timeout: float = 10.0) -> FetchCount:
    """Count `expected` records of `topic` with the raw Fetch client (see the module doc)."""
    with RawFetchClient(bootstrap, timeout) as client:
        return client.count(topic, expected, max_seconds, progress)
