"""The exceptions the protocol codec raises, and what the server is expected to do with each.

They live together so a listener can catch `ProtocolError` once and branch on the subclass:

- `FrameTooLargeError`, `InvalidFrameError` (framing): the byte stream can no longer be trusted;
  close the connection.
- `UnknownApiKeyError`: an API key we do not implement; Kafka closes the connection.
- `UnsupportedVersionError`: a known API at a version we do not implement. For ApiVersions the
  server answers with `encode_api_versions_fallback()`; for anything else Kafka closes the
  connection (clients are expected to have negotiated versions first).
- `RequestDecodeError`: the header was readable but the body (or header) is garbage; Kafka closes
  the connection. `correlation_id` is set when it could be read, for logging.
- `ResponseDecodeError`: the client-side counterpart, raised by `client_codec`.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class of every error raised by `rafka.protocol`."""


class FramingError(ProtocolError):
    """The size-prefixed framing of the byte stream is broken; close the connection."""


class FrameTooLargeError(FramingError):
    """A frame claims more bytes than `max_frame_bytes` (Kafka's socket.request.max.bytes)."""

    def __init__(self, size: int, max_frame_bytes: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the limit of {max_frame_bytes} bytes")
        self.size = size
        self.max_frame_bytes = max_frame_bytes


class InvalidFrameError(FramingError):
    """A frame has a negative size prefix."""

    def __init__(self, size: int) -> None:
        super().__init__(f"invalid frame size {size}")
        self.size = size


class RequestError(ProtocolError):
    """A complete frame that cannot be turned into a request. Carries what could be read."""

    def __init__(
        self,
        message: str,
        *,
        api_key: int | None = None,
        api_version: int | None = None,
        correlation_id: int | None = None,
        client_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.api_key = api_key
        self.api_version = api_version
        self.correlation_id = correlation_id
        self.client_id = client_id


class UnknownApiKeyError(RequestError):
    """The API key is not one this codec (or this server) implements."""

    api_key: int
    api_version: int
    correlation_id: int

    def __init__(
        self, api_key: int, api_version: int, correlation_id: int, client_id: str | None = None
    ) -> None:
        super().__init__(
            f"unknown or unimplemented api key {api_key} (version {api_version})",
            api_key=api_key,
            api_version=api_version,
            correlation_id=correlation_id,
            client_id=client_id,
        )


class UnsupportedVersionError(RequestError):
    """A known API key at a version outside the supported range.

    `min_version`/`max_version` are the range we do support, so the server can answer
    UNSUPPORTED_VERSION (ApiVersions) or log something useful before closing.
    """

    api_key: int
    api_version: int
    correlation_id: int

    def __init__(
        self,
        api_key: int,
        api_version: int,
        correlation_id: int,
        client_id: str | None,
        min_version: int,
        max_version: int,
    ) -> None:
        super().__init__(
            f"api key {api_key} version {api_version} is not supported "
            f"(supported: {min_version}-{max_version})",
            api_key=api_key,
            api_version=api_version,
            correlation_id=correlation_id,
            client_id=client_id,
        )
        self.min_version = min_version
        self.max_version = max_version


class RequestDecodeError(RequestError):
    """The frame could not be decoded as the request its header announces."""


class ResponseDecodeError(ProtocolError):
    """Client side: a response frame could not be decoded."""
