"""encode_response(): header versions, round trips, ApiVersions fallback, and the rule that no
tagged field is ever sent at its default value (librdkafka < 2.2, e.g. kcat 1.7.1, mis-skips
tagged fields it does not parse)."""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import MISSING
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode as KioErrorCode
from kio.schema.metadata.v12 import response as metadata_v12
from kio.schema.produce.v10 import response as produce_v10
from kio.serial._implicit_defaults import get_tagged_field_default
from kio.static.primitive import i16, i32, i32Timedelta, i64

from rafka.protocol import (
    ApiKey,
    ApiRange,
    ErrorCode,
    SupportedApis,
    build_api_versions_response,
    decode_response,
    encode_api_versions_fallback,
    encode_response,
    encode_response_chunks,
    response_class,
    response_correlation_id,
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

NO_THROTTLE = i32Timedelta.parse(timedelta(0))


def frame(chunks: list[bytes | memoryview]) -> bytes:
    data = b"".join(chunks)
    (size,) = struct.unpack_from(">i", data, 0)
    assert size == len(data) - 4
    return data[4:]


def body_offset(api_key: int, version: int) -> int:
    """Where the body starts in a response frame: after correlation id (+ tag byte)."""
    flexible_header = response_class(api_key, version).__header_schema__.__flexible__
    return 5 if flexible_header else 4


@pytest.mark.parametrize("version", range(5))
def test_api_versions_always_uses_response_header_v0(version: int) -> None:
    response = build_api_versions_response(version, BROKER_APIS)
    data = frame(encode_response(77, ApiKey.API_VERSIONS, version, response))
    assert data[:4] == struct.pack(">i", 77)
    assert data[4:6] == b"\x00\x00"  # error_code right after the correlation id
    assert encode_entity(response) == data[4:]


def test_flexible_responses_use_header_v1() -> None:
    for version, expected in [(8, False), (9, True), (13, True)]:
        assert body_offset(ApiKey.METADATA, version) == (5 if expected else 4)
    response = populated(response_class(ApiKey.METADATA, 9))
    data = frame(encode_response(5, ApiKey.METADATA, 9, response))
    assert data[:5] == struct.pack(">iB", 5, 0)
    assert data[5:] == encode_entity(response)


@pytest.mark.parametrize("case", MIN_MAX_VERSIONS, ids=version_id)
@quick
@given(data=st.data())
def test_roundtrip_min_and_max_versions(case: tuple[int, int], data: st.DataObject) -> None:
    api_key, version = case
    response = data.draw(st.from_type(response_class(api_key, version)))
    correlation_id = data.draw(st.integers(-(2**31), 2**31 - 1))
    raw = frame(encode_response(correlation_id, api_key, version, response))
    assert response_correlation_id(raw) == correlation_id
    decoded = decode_response(api_key, version, raw)
    assert encode_entity(decoded) == encode_entity(response)


@pytest.mark.parametrize("case", ALL_VERSIONS, ids=version_id)
def test_every_version_fully_populated(case: tuple[int, int]) -> None:
    api_key, version = case
    response = populated(response_class(api_key, version))
    raw = frame(encode_response(3, api_key, version, response))
    assert decode_response(api_key, version, raw + b"\x00trailing") == response


def with_tag_defaults(entity: Any) -> Any:
    """A copy of `entity` whose tagged fields (at any depth) hold their default values."""
    changes = {}
    for field in dataclasses.fields(entity):
        value = getattr(entity, field.name)
        if "tag" in field.metadata:
            changes[field.name] = (
                field.default if field.default is not MISSING else get_tagged_field_default(field)
            )
        elif dataclasses.is_dataclass(value):
            changes[field.name] = with_tag_defaults(value)
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            changes[field.name] = tuple(with_tag_defaults(v) for v in value)
    return dataclasses.replace(entity, **changes)


@pytest.mark.parametrize("case", ALL_VERSIONS, ids=version_id)
def test_no_tagged_field_is_sent_at_its_default(case: tuple[int, int]) -> None:
    api_key, version = case
    cls = response_class(api_key, version)
    full = populated(cls)
    defaults = with_tag_defaults(full)
    data = frame(encode_response(1, api_key, version, defaults))
    assert scan_tags(cls, data, body_offset(api_key, version)) == ()
    assert decode_response(api_key, version, data) == defaults
    if cls.__flexible__:
        # The scan is not vacuous: the same response with non-default tags shows them.
        full_data = frame(encode_response(1, api_key, version, full))
        tagged = scan_tags(cls, full_data, body_offset(api_key, version))
        assert all(t.known for t in tagged)
        if full != defaults:
            assert tagged


def test_realistic_responses_carry_no_tags() -> None:
    metadata = metadata_v12.MetadataResponse(
        throttle_time=NO_THROTTLE,
        brokers=(
            metadata_v12.MetadataResponseBroker(
                node_id=i32(1), host="localhost", port=i32(9092), rack=None
            ),
        ),
        cluster_id="rafka",
        controller_id=i32(1),
        topics=(
            metadata_v12.MetadataResponseTopic(
                error_code=KioErrorCode.none,
                name="t",
                topic_id=None,
                is_internal=False,
                partitions=(
                    metadata_v12.MetadataResponsePartition(
                        error_code=KioErrorCode.none,
                        partition_index=i32(0),
                        leader_id=i32(1),
                        leader_epoch=i32(0),
                        replica_nodes=(i32(1),),
                        isr_nodes=(i32(1),),
                        offline_replicas=(),
                    ),
                ),
                topic_authorized_operations=i32(-2147483648),
            ),
        ),
    )
    produce = produce_v10.ProduceResponse(
        responses=(
            produce_v10.TopicProduceResponse(
                name="t",
                partition_responses=(
                    produce_v10.PartitionProduceResponse(
                        index=i32(0),
                        error_code=KioErrorCode.none,
                        base_offset=i64(0),
                        log_append_time=None,
                        log_start_offset=i64(0),
                        record_errors=(),
                        error_message=None,
                    ),
                ),
            ),
        ),
        throttle_time=NO_THROTTLE,
    )
    for api_key, version, response in [
        (ApiKey.METADATA, 12, metadata),
        (ApiKey.PRODUCE, 10, produce),
        (ApiKey.API_VERSIONS, 3, build_api_versions_response(3, BROKER_APIS)),
        (ApiKey.API_VERSIONS, 4, build_api_versions_response(4, BROKER_APIS)),
    ]:
        data = frame(encode_response(1, api_key, version, response))
        assert scan_tags(type(response), data, body_offset(api_key, version)) == ()


def test_api_versions_v0_fallback_bytes() -> None:
    apis = SupportedApis.of([ApiKey.API_VERSIONS, ApiKey.METADATA])
    data = b"".join(encode_api_versions_fallback(0x01020304, apis))
    assert data == bytes.fromhex(
        "00000016"  # size: 22 bytes follow
        "01020304"  # correlation id (header v0: no tagged fields)
        "0023"  # UNSUPPORTED_VERSION
        "00000002"  # int32 array length (v0 is not flexible)
        "0003 0000 000d"  # Metadata 0-13
        "0012 0000 0004"  # ApiVersions 0-4
        # v0 has no throttle_time_ms
    )


def test_fallback_accepts_plain_triples_and_is_decoded_as_v0_by_clients() -> None:
    data = frame(encode_api_versions_fallback(9, [(18, 0, 4), (3, 0, 12)]))
    response = decode_response(ApiKey.API_VERSIONS, 4, data)
    assert response.error_code == ErrorCode.unsupported_version
    assert [(a.api_key, a.min_version, a.max_version) for a in response.api_keys] == [
        (18, 0, 4),
        (3, 0, 12),
    ]


@pytest.mark.parametrize("version", range(5))
def test_build_api_versions_response(version: int) -> None:
    response = build_api_versions_response(version, BROKER_APIS, throttle_time_ms=25)
    decoded = decode_response(
        ApiKey.API_VERSIONS, version, frame(encode_response(1, 18, version, response))
    )
    assert [ApiRange(a.api_key, "", a.min_version, a.max_version) for a in decoded.api_keys] == [
        ApiRange(a.api_key, "", a.min_version, a.max_version) for a in BROKER_APIS
    ]
    if version >= 1:
        assert decoded.throttle_time == timedelta(milliseconds=25)


def test_encode_response_rejects_the_wrong_type() -> None:
    response = build_api_versions_response(3, BROKER_APIS)
    with pytest.raises(TypeError):
        encode_response(1, ApiKey.API_VERSIONS, 2, response)
    with pytest.raises(TypeError):
        encode_response(1, ApiKey.METADATA, 3, response)
    with pytest.raises(TypeError):
        encode_response(1, 18, 3, object())


def test_encode_response_chunks_frames_a_pre_encoded_body() -> None:
    response = populated(response_class(ApiKey.METADATA, 12))
    body = encode_entity(response)
    chunks = encode_response_chunks(4, ApiKey.METADATA, 12, [body[:10], memoryview(body)[10:]])
    assert b"".join(chunks) == b"".join(encode_response(4, ApiKey.METADATA, 12, response))
    chunks = encode_response_chunks(4, ApiKey.API_VERSIONS, 3, [b"xy"])
    assert b"".join(chunks) == struct.pack(">ii", 6, 4) + b"xy"


def test_error_code_is_kios() -> None:
    assert ErrorCode is KioErrorCode
    assert ErrorCode.unsupported_version == 35
    assert i16(ErrorCode.none) == 0
