"""ApiVersions, the one API a client sends before it knows which versions we speak.

Two helpers: `build_api_versions_response()` turns a `SupportedApis` into kio's response of
the requested version, and `encode_api_versions_fallback()` produces the bytes Kafka sends when
the client asked for an ApiVersions version newer than ours: a v0-format response (header v0,
error_code + api_keys, no throttle time) carrying UNSUPPORTED_VERSION, from which the client
learns our maximum ApiVersions version and retries (KIP-511 behaviour, which the Java client
and librdkafka both rely on).

Tagged fields (supported_features, finalized_features, ...) are left at their defaults so none
is ever put on the wire: librdkafka before 2.2 (kcat 1.7.1 on Debian bundles 2.0.2) skips one
byte too few for every tagged field it does not parse (librdkafka PR #4278), and a Rafka node
has no feature flags to advertise anyway.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from kio.schema.api_versions.v0.response import ApiVersion as ApiVersionV0
from kio.schema.api_versions.v0.response import ApiVersionsResponse as ApiVersionsResponseV0
from kio.schema.errors import ErrorCode
from kio.static.primitive import i16, i32Timedelta

from rafka.protocol import _kio
from rafka.protocol.apis import ApiKey, ApiRange

__all__ = ["build_api_versions_response", "encode_api_versions_fallback"]


ApiRanges = Iterable[ApiRange] | Iterable[tuple[int, int, int]]


def _triples(apis: ApiRanges) -> list[tuple[int, int, int]]:
    """(api_key, min, max) from a SupportedApis, ApiRanges, or plain triples."""
    out = []
    for api in apis:
        if isinstance(api, ApiRange):
            out.append((api.api_key, api.min_version, api.max_version))
        else:
            key, low, high = api
            out.append((int(key), int(low), int(high)))
    return out


def build_api_versions_response(
    api_version: int,
    apis: ApiRanges,
    *,
    error_code: ErrorCode = ErrorCode.none,
    throttle_time_ms: int = 0,
) -> Any:
    """kio's ApiVersionsResponse at `api_version`, listing every API in `apis`.

    `apis` may be a `SupportedApis`, `ApiRange`s, or (api_key, min, max) triples.
    """
    cls = _kio.response_type(ApiKey.API_VERSIONS, api_version)
    entry = importlib.import_module(cls.__module__).ApiVersion
    keys = tuple(
        entry(api_key=i16(key), min_version=i16(low), max_version=i16(high))
        for key, low, high in _triples(apis)
    )
    kwargs: dict[str, Any] = {"error_code": error_code, "api_keys": keys}
    if api_version >= 1:
        kwargs["throttle_time"] = i32Timedelta.parse(timedelta(milliseconds=throttle_time_ms))
    return cls(**kwargs)


def encode_api_versions_fallback(correlation_id: int, apis: ApiRanges) -> list[bytes | memoryview]:
    """Bytes answering an ApiVersions request of a version we do not support.

    Kafka itself lists only the ApiVersions range here; we list every supported API (clients
    only look for the ApiVersions entry, and the rest is harmless).
    """
    response = ApiVersionsResponseV0(
        error_code=ErrorCode.unsupported_version,
        api_keys=tuple(
            ApiVersionV0(api_key=i16(key), min_version=i16(low), max_version=i16(high))
            for key, low, high in _triples(apis)
        ),
    )
    body = _kio.encode_entity(response)
    return [struct.pack(">ii", len(body) + 4, correlation_id), body]
