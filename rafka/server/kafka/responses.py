"""Fetch responses: a version-independent description, encoded without copying record bytes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from rafka.protocol import FetchPartition, FetchTopic, ResponseChunk, encode_fetch_response
from rafka.protocol import FetchResponseData as WireFetchResponse
from rafka.server.kafka.context import PreEncoded, RequestContext


@dataclass(slots=True)
class PartitionFetchData:
    topic: str | None
    topic_id: uuid.UUID | None
    partition: int
    error_code: ErrorCode
    high_watermark: int = -1
    log_start_offset: int = -1
    records: Sequence[ResponseChunk] = ()
    records_size: int = 0


@dataclass(slots=True)
class FetchResponseData:
    error_code: ErrorCode
    session_id: int
    partitions: list[PartitionFetchData]


def encode_fetch(ctx: RequestContext, data: FetchResponseData) -> PreEncoded:
    """Consecutive partitions of one topic form one topic entry, in the order given."""
    topics: list[FetchTopic] = []
    current: list[FetchPartition] = []
    previous: PartitionFetchData | None = None
    for part in data.partitions:
        if previous is None or (part.topic, part.topic_id) != (previous.topic, previous.topic_id):
            current = []
            topics.append(FetchTopic(current, topic=part.topic or "", topic_id=part.topic_id))
            previous = part
        current.append(
            FetchPartition(
                partition_index=part.partition,
                high_watermark=part.high_watermark,
                error_code=part.error_code,
                # No transactions yet: everything below the high watermark is stable.
                last_stable_offset=part.high_watermark,
                log_start_offset=part.log_start_offset,
                records=part.records,
            )
        )
    wire = WireFetchResponse(topics, error_code=data.error_code, session_id=data.session_id)
    return PreEncoded(encode_fetch_response(ctx.correlation_id, ctx.api_version, wire))
