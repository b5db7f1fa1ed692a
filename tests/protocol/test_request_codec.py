"""decode_request(): headers per API/version, tolerance for trailing bytes and unknown tags,
and the errors a server acts on."""

from __future__ import annotations

import struct
import uuid
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from kio.schema.api_versions.v3.request import ApiVersionsRequest
from kio.schema.fetch.v15.request import FetchPartition, FetchRequest, FetchTopic, ReplicaState
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.produce.v9.request import PartitionProduceData, ProduceRequest, TopicProduceData
from kio.schema.request_header.v1.header import RequestHeader as RequestHeaderV1
from kio.schema.request_header.v2.header import RequestHeader as RequestHeaderV2
from kio.static.primitive import i8, i16, i32, i32Timedelta, i64

from rafka.protocol import (
    ApiKey,
    FrameDecoder,
    RequestDecodeError,
    SupportedApis,
    UnknownApiKeyError,
    UnsupportedVersionError,
    decode_request,
    encode_request,
    peek_request_header,
    request_class,
)
from rafka.protocol._kio import encode_entity
from rafka.protocol.tagged_fields import scan_tags
from tests.protocol.protocol_strategies import (
    ALL_VERSIONS,
    BROKER_APIS,
    MIN_MAX_VERSIONS,
    populated,
    quick,
    version_id,
)


def frame_of(raw: bytes) -> bytes | memoryview:
    decoder = FrameDecoder()
    decoder.feed(raw)
    frame = decoder.next_frame()
    assert frame is not None and decoder.buffered_bytes == 0
    return frame


def roundtrip(api_key: int, version: int, data: st.DataObject, trailing: bytes = b"") -> None:
    cls = request_class(api_key, version)
    request = data.draw(st.from_type(cls), label="request")
    correlation_id = data.draw(st.integers(-(2**31), 2**31 - 1), label="correlation_id")
    client_id = data.draw(st.none() | st.text(max_size=20), label="client_id")
    raw = encode_request(api_key, version, correlation_id, client_id, request)
    decoded = decode_request(bytes(frame_of(raw)) + trailing, BROKER_APIS)
    assert (decoded.api_key, decoded.api_version) == (api_key, version)
    assert decoded.correlation_id == correlation_id
    assert decoded.client_id == client_id
    assert type(decoded.body) is cls
    # Compare encodings: kio maps the zero UUID to None, so objects may differ harmlessly.
    assert encode_entity(decoded.body) == encode_entity(request)
    assert decoded.skipped_tags == ()


@pytest.mark.parametrize("case", MIN_MAX_VERSIONS, ids=version_id)
@quick
@given(data=st.data())
def test_roundtrip_min_and_max_versions(case: tuple[int, int], data: st.DataObject) -> None:
    roundtrip(*case, data)


@pytest.mark.parametrize("case", ALL_VERSIONS, ids=version_id)
def test_every_version_fully_populated_with_trailing_bytes(case: tuple[int, int]) -> None:
    # Every field set to a non-default value, so every tagged field is on the wire too.
    api_key, version = case
    request = populated(request_class(api_key, version))
    raw = encode_request(api_key, version, 99, "client", request)
    decoded = decode_request(bytes(frame_of(raw)) + b"\x00\x01\x02", BROKER_APIS)
    assert decoded.body == request
    assert (decoded.correlation_id, decoded.client_id) == (99, "client")


def test_header_versions_follow_kio() -> None:
    # ApiVersions: v0-2 use header v1, v3+ (flexible) header v2 whose client_id is still a
    # legacy int16-length string.
    assert request_class(ApiKey.API_VERSIONS, 2).__header_schema__ is RequestHeaderV1
    assert request_class(ApiKey.API_VERSIONS, 3).__header_schema__ is RequestHeaderV2
    assert request_class(ApiKey.METADATA, 8).__header_schema__ is RequestHeaderV1
    assert request_class(ApiKey.METADATA, 9).__header_schema__ is RequestHeaderV2
    raw = encode_request(18, 3, 7, "abc", api_versions_v3())
    assert (
        raw[4:] == bytes.fromhex("0012 0003 00000007 0003") + b"abc" + b"\x00" + b"\x02x\x021\x00"
    )


def api_versions_v3() -> ApiVersionsRequest:
    return ApiVersionsRequest(client_software_name="x", client_software_version="1")


def metadata_v12(*names: str) -> MetadataRequest:
    return MetadataRequest(
        topics=tuple(MetadataRequestTopic(topic_id=None, name=n) for n in names),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )


def test_librdkafka_style_trailing_bytes_after_metadata() -> None:
    frame = frame_of(encode_request(3, 12, 5, "rdkafka", metadata_v12("a", "b")))
    decoded = decode_request(bytes(frame) + b"\x00\x00\x00\x00\x00")
    assert [t.name for t in decoded.body.topics] == ["a", "b"]
    assert decoded.trailing_bytes == 5


def unknown_tag(tag: int, value: bytes) -> bytes:
    assert tag < 128 and len(value) < 128
    return bytes([tag, len(value)]) + value


def test_unknown_tag_in_body_is_skipped() -> None:
    frame = bytes(frame_of(encode_request(18, 3, 9, "c", api_versions_v3())))
    assert frame.endswith(b"\x00")
    tampered = frame[:-1] + b"\x01" + unknown_tag(42, b"future")
    decoded = decode_request(tampered)
    assert decoded.body == api_versions_v3()
    assert decoded.correlation_id == 9
    assert [(t.tag, t.size, t.known) for t in decoded.skipped_tags] == [(42, 6, False)]


def test_unknown_tag_in_header_is_skipped() -> None:
    frame = bytes(frame_of(encode_request(18, 3, 9, "c", api_versions_v3())))
    header_tags_at = 8 + 2 + 1
    assert frame[header_tags_at] == 0
    tampered = (
        frame[:header_tags_at] + b"\x01" + unknown_tag(3, b"\x01") + frame[header_tags_at + 1 :]
    )
    decoded = decode_request(tampered)
    assert decoded.client_id == "c"
    assert decoded.body == api_versions_v3()
    assert decoded.skipped_tags[0].path == "RequestHeader"


def test_unknown_tag_in_nested_struct_is_skipped() -> None:
    request = metadata_v12("alpha", "beta")
    frame = bytes(frame_of(encode_request(3, 12, 1, None, request)))
    # Each topic ends with its own empty tag section right after its name.
    first_topic_tags = frame.index(b"alpha") + len(b"alpha")
    assert frame[first_topic_tags] == 0
    tampered = (
        frame[:first_topic_tags]
        + b"\x02"
        + unknown_tag(7, b"xyz")
        + unknown_tag(9, b"")
        + frame[first_topic_tags + 1 :]
    )
    decoded = decode_request(tampered)
    assert decoded.body == request
    assert [(t.path, t.tag) for t in decoded.skipped_tags] == [
        ("MetadataRequest.topics[0]", 7),
        ("MetadataRequest.topics[0]", 9),
    ]


def test_unknown_tags_mixed_with_known_tags() -> None:
    # FetchRequest v15 has known tags ClusterId (0) and ReplicaState (1) at the top level.
    request = FetchRequest(
        cluster_id="cluster",
        replica_state=ReplicaState(replica_id=i32(3), replica_epoch=i64(4)),
        max_wait=i32Timedelta.parse(timedelta(milliseconds=500)),
        min_bytes=i32(1),
        max_bytes=i32(1 << 20),
        isolation_level=i8(0),
        session_id=i32(0),
        session_epoch=i32(-1),
        topics=(
            FetchTopic(
                topic_id=uuid.uuid4(),
                partitions=(
                    FetchPartition(
                        partition=i32(0),
                        current_leader_epoch=i32(-1),
                        fetch_offset=i64(10),
                        last_fetched_epoch=i32(-1),
                        log_start_offset=i64(-1),
                        partition_max_bytes=i32(1 << 20),
                    ),
                ),
            ),
        ),
        forgotten_topics_data=(),
        rack_id="",
    )
    frame = bytes(frame_of(encode_request(1, 15, 1, None, request)))
    tags = scan_tags(FetchRequest, frame, frame_header_size(frame))
    assert [(t.tag, t.known) for t in tags] == [(0, True), (1, True)]
    # Rewrite the top-level tag section with an unknown tag between the two known ones.
    body_tags_at = len(frame) - sum(2 + t.size for t in tags) - 1
    assert frame[body_tags_at] == 2
    section = frame[body_tags_at + 1 :]
    cluster = section[: 2 + tags[0].size]
    state = section[2 + tags[0].size :]
    tampered = frame[:body_tags_at] + b"\x03" + cluster + unknown_tag(5, b"??") + state
    decoded = decode_request(tampered)
    assert decoded.body == request
    assert [t.tag for t in decoded.skipped_tags] == [5]


def frame_header_size(frame: bytes) -> int:
    (client_id_len,) = struct.unpack_from(">h", frame, 8)
    return 10 + max(client_id_len, 0) + 1


FLEXIBLE_MIN_MAX = [c for c in MIN_MAX_VERSIONS if request_class(*c).__flexible__]


@pytest.mark.parametrize("case", FLEXIBLE_MIN_MAX, ids=version_id)
@quick
@given(data=st.data(), tag=st.integers(200, 10_000), value=st.binary(max_size=20))
def test_unknown_top_level_tag_any_flexible_request(
    case: tuple[int, int], data: st.DataObject, tag: int, value: bytes
) -> None:
    api_key, version = case
    cls = request_class(api_key, version)
    request = data.draw(st.from_type(cls))
    frame = bytes(frame_of(encode_request(api_key, version, 1, "c", request)))
    assume(not [t for t in scan_tags(cls, frame, 12) if t.path == cls.__name__])
    assert frame.endswith(b"\x00")
    extra = bytearray()
    for n in (tag, len(value)):
        while n > 0x7F:
            extra.append((n & 0x7F) | 0x80)
            n >>= 7
        extra.append(n)
    decoded = decode_request(frame[:-1] + b"\x01" + bytes(extra) + value)
    assert encode_entity(decoded.body) == encode_entity(request)


def test_unknown_api_key() -> None:
    frame = struct.pack(">hhih", 999, 0, 77, 2) + b"me"
    with pytest.raises(UnknownApiKeyError) as info:
        decode_request(frame)
    assert (info.value.api_key, info.value.api_version, info.value.correlation_id) == (999, 0, 77)
    assert info.value.client_id == "me"


def test_api_known_to_kio_but_not_served_is_unknown() -> None:
    served = SupportedApis.of([ApiKey.API_VERSIONS])
    frame = frame_of(encode_request(3, 12, 5, None, metadata_v12()))
    with pytest.raises(UnknownApiKeyError):
        decode_request(frame, served)


@pytest.mark.parametrize(
    ("api_key", "version", "low", "high"),
    [(0, 2, 3, 13), (1, 3, 4, 18), (18, 5, 0, 4), (3, 14, 0, 13)],
)
def test_unsupported_version(api_key: int, version: int, low: int, high: int) -> None:
    # A future client's request: only the fixed header prefix is readable.
    frame = struct.pack(">hhih", api_key, version, 1234, 6) + b"future" + b"\x00garbage"
    with pytest.raises(UnsupportedVersionError) as info:
        decode_request(frame)
    error = info.value
    assert (error.api_key, error.api_version, error.correlation_id) == (api_key, version, 1234)
    assert (error.client_id, error.min_version, error.max_version) == ("future", low, high)


def test_narrowed_range_is_enforced() -> None:
    served = BROKER_APIS.restrict(ApiKey.METADATA, 0, 11)
    frame = frame_of(encode_request(3, 12, 5, None, metadata_v12()))
    with pytest.raises(UnsupportedVersionError) as info:
        decode_request(frame, served)
    assert info.value.max_version == 11


def test_too_short_for_a_header() -> None:
    with pytest.raises(RequestDecodeError) as info:
        decode_request(b"\x00\x12\x00")
    assert info.value.correlation_id is None


@pytest.mark.parametrize("cut", [9, 12, 15, 20])
def test_truncated_request_keeps_correlation_id(cut: int) -> None:
    frame = bytes(frame_of(encode_request(3, 12, 4321, "c", metadata_v12("topic-a"))))
    with pytest.raises(RequestDecodeError) as info:
        decode_request(frame[:cut])
    assert info.value.correlation_id == 4321
    assert (info.value.api_key, info.value.api_version) == (3, 12)


def test_garbage_body() -> None:
    frame = struct.pack(">hhih", 0, 9, 8, 1) + b"c" + b"\xff" * 40
    with pytest.raises(RequestDecodeError) as info:
        decode_request(frame)
    assert info.value.correlation_id == 8


def test_writable_buffers_are_accepted() -> None:
    frame = bytes(frame_of(encode_request(18, 3, 9, "c", api_versions_v3())))
    for candidate in (bytearray(frame), memoryview(bytearray(frame))):
        assert decode_request(candidate).body == api_versions_v3()


def test_peek_request_header() -> None:
    frame = frame_of(encode_request(18, 3, 9, "client-1", api_versions_v3()))
    assert peek_request_header(frame) == (18, 3, 9, "client-1")
    assert peek_request_header(struct.pack(">hhih", 1, 2, 3, -1)) == (1, 2, 3, None)


def test_produce_records_survive() -> None:
    records = bytes(range(256)) * 4096
    request = ProduceRequest(
        transactional_id=None,
        acks=i16(-1),
        timeout=i32Timedelta.parse(timedelta(seconds=30)),
        topic_data=(
            TopicProduceData(
                name="t",
                partition_data=(PartitionProduceData(index=i32(0), records=records),),
            ),
        ),
    )
    decoded = decode_request(frame_of(encode_request(0, 9, 1, "c", request)))
    body: Any = decoded.body
    assert body.topic_data[0].partition_data[0].records == records
