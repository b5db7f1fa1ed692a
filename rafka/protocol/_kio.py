"""Cached lookups of kio's generated types, readers and writers by (api key, version).

kio resolves schema types through dynamic imports; doing that per request would be slow, so
every lookup here is memoised. Private: the rest of `rafka.protocol` goes through these.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from kio.index import load_request_schema, load_response_schema
from kio.schema.response_header.v1.header import ResponseHeader as ResponseHeaderV1
from kio.serial import entity_reader, entity_writer
from kio.serial.readers import Reader
from kio.static.protocol import Entity

# kio's generated payload classes are typed through Protocols whose union does not narrow
# nicely; inside the codec we treat them as plain entities.
RequestType = type[Any]
ResponseType = type[Any]


@functools.cache
def request_type(api_key: int, version: int) -> RequestType:
    """kio's request payload class (raises kio's UnknownAPIKey / UnknownEntity)."""
    return load_request_schema(api_key, version)


@functools.cache
def response_type(api_key: int, version: int) -> ResponseType:
    """kio's response payload class (raises kio's UnknownAPIKey / UnknownEntity)."""
    return load_response_schema(api_key, version)


_READERS: dict[type[Any], Reader[Any]] = {}


def reader(entity_type: type[Any]) -> Reader[Any]:
    """kio's native reader for an entity type."""
    read = _READERS.get(entity_type)
    if read is None:
        read = _READERS[entity_type] = entity_reader(entity_type)
    return read


def encode_entity(entity: Entity) -> bytes:
    """Serialize one kio entity with kio's (Python) writer."""
    buffer = io.BytesIO()
    entity_writer(type(entity))(buffer, entity)
    return buffer.getvalue()


def response_header_is_flexible(response_cls: ResponseType) -> bool:
    """True when the response header carries a tagged-field section (header v1).

    kio encodes Kafka's special case here: ApiVersions responses always use header v0.
    """
    return response_cls.__header_schema__ is ResponseHeaderV1


def readonly(frame: bytes | bytearray | memoryview) -> bytes | memoryview:
    """The frame as a read-only buffer (kio's native reader refuses writable ones), uncopied."""
    if isinstance(frame, bytes):
        return frame
    if isinstance(frame, bytearray):
        return memoryview(frame).toreadonly()
    return frame if frame.readonly else frame.toreadonly()
