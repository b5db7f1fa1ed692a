"""The client side of the codec, for our tests and tools: typed requests out, responses in.

Mirror image of `codec`: `encode_request()` writes a size-prefixed request with the header
version kio says the request uses, and `decode_response()` decodes a response frame (without
its size prefix) as the given API version, skipping unknown tagged fields. Like the Java
client, an ApiVersions response carrying UNSUPPORTED_VERSION is decoded as v0, because that is
how a broker answers a client newer than itself.
"""

from __future__ import annotations

import struct
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.constants import EntityType
from kio.static.primitive import i16, i32

from rafka.protocol import _kio
from rafka.protocol.apis import ApiKey
from rafka.protocol.errors import ResponseDecodeError
from rafka.protocol.tagged_fields import read_tolerant

__all__ = ["decode_response", "encode_request", "response_correlation_id"]

_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")


def encode_request(
    api_key: int, version: int, correlation_id: int, client_id: str | None, request: Any
) -> bytes:
    """One request frame, size prefix included.

    Raises `TypeError` if `request` is not kio's request type for (api_key, version).
    """
    cls = type(request)
    if (
        getattr(cls, "__type__", None) is not EntityType.request
        or cls.__api_key__ != api_key
        or cls.__version__ != version
    ):
        raise TypeError(
            f"{cls.__module__}.{cls.__qualname__} is not the request type of api key "
            f"{api_key} version {version}"
        )
    header = cls.__header_schema__(
        request_api_key=i16(api_key),
        request_api_version=i16(version),
        correlation_id=i32(correlation_id),
        client_id=client_id,
    )
    payload = _kio.encode_entity(header) + _kio.encode_entity(request)
    return _I32.pack(len(payload)) + payload


def response_correlation_id(frame: bytes | memoryview) -> int:
    """The correlation id of a response frame (the first 4 bytes of every response header)."""
    if len(frame) < 4:
        raise ResponseDecodeError("response frame shorter than its header")
    return int(_I32.unpack_from(frame, 0)[0])


def decode_response(api_key: int, version: int, frame: bytes | bytearray | memoryview) -> Any:
    """Decode a response frame (without size prefix) as kio's response for (api_key, version).

    Trailing bytes are ignored; unknown tagged fields are skipped.
    """
    data = _kio.readonly(frame)
    if len(data) < 4:
        raise ResponseDecodeError("response frame shorter than its header")
    if (
        api_key == ApiKey.API_VERSIONS
        and version > 0
        and len(data) >= 6
        and _I16.unpack_from(data, 4)[0] == ErrorCode.unsupported_version
    ):
        version = 0  # the broker answered in v0 format (KIP-511)
    try:
        cls = _kio.response_type(api_key, version)
        offset = 4
        if _kio.response_header_is_flexible(cls):
            _header, offset, _ = read_tolerant(cls.__header_schema__, data, 0)
        response, _end, _ = read_tolerant(cls, data, offset)
    except Exception as exc:
        raise ResponseDecodeError(
            f"cannot decode response to api key {api_key} v{version}: {type(exc).__name__}: {exc}"
        ) from exc
    return response
