"""The Kafka wire protocol, sans-IO: bytes in, typed kio messages out, and back.

Nothing in this package touches a socket. A listener feeds received bytes to a
`FrameDecoder`, passes each frame to `decode_request()`, hands the `RequestFrame` to a handler,
and writes the chunks `encode_response()` (or `encode_fetch_response()`) returns.

Modules: `framing` (size-prefixed frames), `codec` (broker side), `client_codec` (client side,
for tests and tools), `fetch_response` (zero-copy Fetch encoder), `api_versions` (ApiVersions
responses and the v0 fallback), `apis` (API keys and version ranges), `tagged_fields` (skipping
unknown tagged fields), `errors`.
"""

from rafka.protocol.api_versions import build_api_versions_response, encode_api_versions_fallback
from rafka.protocol.apis import (
    CORE_API_KEYS,
    GROUP_API_KEYS,
    KIO_APIS,
    PRODUCER_API_KEYS,
    SASL_API_KEYS,
    ApiKey,
    ApiRange,
    ErrorCode,
    SupportedApis,
)
from rafka.protocol.client_codec import decode_response, encode_request, response_correlation_id
from rafka.protocol.codec import (
    RequestFrame,
    decode_request,
    encode_response,
    encode_response_chunks,
    peek_request_header,
    request_class,
    response_class,
)
from rafka.protocol.errors import (
    FrameTooLargeError,
    FramingError,
    InvalidFrameError,
    ProtocolError,
    RequestDecodeError,
    RequestError,
    ResponseDecodeError,
    UnknownApiKeyError,
    UnsupportedVersionError,
)
from rafka.protocol.fetch_response import (
    FETCH_VERSIONS,
    AbortedTransaction,
    EpochEndOffset,
    FetchPartition,
    FetchResponseData,
    FetchTopic,
    LeaderIdAndEpoch,
    NodeEndpoint,
    OpaqueChunk,
    RecordChunks,
    ResponseChunk,
    SnapshotId,
    encode_fetch_response,
    encode_fetch_response_body,
)
from rafka.protocol.framing import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, frame_size_prefix
from rafka.protocol.tagged_fields import TagInfo

__all__ = [
    "CORE_API_KEYS",
    "DEFAULT_MAX_FRAME_BYTES",
    "FETCH_VERSIONS",
    "GROUP_API_KEYS",
    "KIO_APIS",
    "PRODUCER_API_KEYS",
    "SASL_API_KEYS",
    "AbortedTransaction",
    "ApiKey",
    "ApiRange",
    "EpochEndOffset",
    "ErrorCode",
    "FetchPartition",
    "FetchResponseData",
    "FetchTopic",
    "FrameDecoder",
    "FrameTooLargeError",
    "FramingError",
    "InvalidFrameError",
    "LeaderIdAndEpoch",
    "NodeEndpoint",
    "OpaqueChunk",
    "ProtocolError",
    "RecordChunks",
    "RequestDecodeError",
    "RequestError",
    "RequestFrame",
    "ResponseChunk",
    "ResponseDecodeError",
    "SnapshotId",
    "SupportedApis",
    "TagInfo",
    "UnknownApiKeyError",
    "UnsupportedVersionError",
    "build_api_versions_response",
    "decode_request",
    "decode_response",
    "encode_api_versions_fallback",
    "encode_fetch_response",
    "encode_fetch_response_body",
    "encode_request",
    "encode_response",
    "encode_response_chunks",
    "frame_size_prefix",
    "peek_request_header",
    "request_class",
    "response_class",
    "response_correlation_id",
]
