"""Records <-> protobuf messages, and message ids.

A message id is `<topic>/<partition>/<offset>`: '/' cannot appear in a topic name, so the id is
unambiguous; it is the same for a message whichever door produced it, and it stays valid
across restarts (the original's random ids did not), so an Acknowledge by id needs no lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rafka.records import Record
from rafka.server.grpc.errors import invalid
from rafka.server.grpc.gen import rafka_pb2 as pb


def message_id(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{partition}/{offset}"


def parse_message_id(text: str) -> tuple[str, int, int]:
    """`topic/partition/offset` -> (topic, partition, offset); INVALID_ARGUMENT otherwise."""
    topic, _, rest = text.partition("/")
    partition, _, offset = rest.partition("/")
    try:
        parsed = (topic, int(partition), int(offset))
    except ValueError:
        raise invalid(f"message id {text!r} is not <topic>/<partition>/<offset>") from None
    if not topic or parsed[1] < 0 or parsed[2] < 0:
        raise invalid(f"message id {text!r} is not <topic>/<partition>/<offset>")
    return parsed


@dataclass(slots=True)
class Incoming:
    """One PublishRequest's fields, read in a single pass."""

    topic: str
    record: Record
    partition: int | None


_FIELDS = pb.PublishRequest.DESCRIPTOR.fields_by_name
_TOPIC = _FIELDS["topic"].number
_KEY = _FIELDS["key"].number
_PAYLOAD = _FIELDS["payload"].number
_HEADERS = _FIELDS["headers"].number
_PARTITION = _FIELDS["partition"].number
_TIMESTAMP = _FIELDS["timestamp_ms"].number


def incoming(request: pb.PublishRequest, now_ms: int) -> Incoming:
    """Read a PublishRequest with one `ListFields()` call: measurably faster with protobuf's
    upb backend than an attribute access or HasField per field (about 1.6 against 2.4 us per
    message). Publish and PublishBatch's general path use it; PublishBatch's fast path reads
    the request's bytes instead (`wire.parse_publish_batch`), and is tested against it."""
    topic = ""
    key: bytes | None = None
    payload: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    partition: int | None = None
    timestamp = now_ms
    for field, value in request.ListFields():
        number = field.number
        if number == _PAYLOAD:
            payload = value
        elif number == _TOPIC:
            topic = value
        elif number == _KEY:
            key = value
        elif number == _HEADERS:
            headers = tuple((h.key, h.value if h.HasField("value") else None) for h in value)
        elif number == _PARTITION:
            partition = value
        elif number == _TIMESTAMP:
            timestamp = value
    return Incoming(topic, Record(key, payload, headers, timestamp), partition)


def messages_from_records(
    topic: str, partition: int, records: Iterable[Record]
) -> list[pb.Message]:
    """Protobuf messages for decoded records, through the generated classes. Consume writes its
    responses with `wire.MessageWriter` instead (faster); this is the reference it is tested
    against."""
    out: list[pb.Message] = []
    prefix = f"{topic}/{partition}/"
    new = pb.Message
    header = pb.Header
    for record in records:
        message = new(
            topic=topic,
            partition=partition,
            offset=record.offset,
            timestamp_ms=record.timestamp_ms,
            message_id=prefix + str(record.offset),
        )
        if record.key is not None:
            message.key = record.key
        if record.value is not None:
            message.payload = record.value
        if record.headers:
            message.headers.extend(
                header(key=k) if v is None else header(key=k, value=v)
                for k, v in record.headers
            )
        out.append(message)
    return out
