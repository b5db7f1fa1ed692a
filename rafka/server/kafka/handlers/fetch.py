"""Fetch: sessionless and KIP-227 session fetches over the broker's long-polling read.

The records in the response are the log's own bytes; the response is encoded by
`rafka.protocol` into a chunk list so they are never copied on their way to the socket. The
handler builds the encoder's partition and topic entries directly (a tail follower gets one
response per message or two; an intermediate description of the response, regrouped into
those entries afterwards, was ~4 us of each).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from kio.schema.errors import ErrorCode

from rafka.broker import FetchedPartition, FetchPartition, LongPoll
from rafka.protocol import FetchPartition as ResponsePartition
from rafka.protocol import FetchResponseData, FetchTopic, encode_fetch_response
from rafka.server.kafka.context import AnswerLater, PreEncoded, RequestContext
from rafka.server.kafka.errors import error_code_for
from rafka.server.kafka.fetch_sessions import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    CachedPartition,
    FetchSession,
)
from rafka.server.kafka.ownership import fetch_owned

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor


@dataclass(slots=True)
class _Wanted:
    """One partition of this fetch, resolved to a topic name (v13+ names topics by id)."""

    topic: str | None
    topic_id: uuid.UUID | None
    partition: int
    fetch_offset: int
    max_bytes: int


def _requested(door: KafkaFrontDoor, request: Any) -> list[_Wanted]:
    wanted = []
    for topic in request.topics:
        name = getattr(topic, "topic", None)
        topic_id = getattr(topic, "topic_id", None)
        if name is None and topic_id is not None:
            found = door.topic_by_id(topic_id)
            name = found.name if found is not None else None
        elif name is not None and topic_id is None:
            found = door.broker.topics.get(name)
            topic_id = found.record.topic_id if found is not None else None
        for part in topic.partitions:
            wanted.append(
                _Wanted(name, topic_id, part.partition, part.fetch_offset, part.partition_max_bytes)
            )
    return wanted


def _forgotten(door: KafkaFrontDoor, request: Any) -> list[tuple[str, int]]:
    gone: list[tuple[str, int]] = []
    for topic in getattr(request, "forgotten_topics_data", ()) or ():
        name = getattr(topic, "topic", None)
        if name is None:
            found = door.topic_by_id(topic.topic_id)
            name = found.name if found is not None else None
        if name is not None:
            gone.extend((name, index) for index in topic.partitions)
    return gone


def handle_fetch(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    session_id = getattr(request, "session_id", 0)
    epoch = getattr(request, "session_epoch", FINAL_EPOCH)
    wanted = _requested(door, request)
    sessions = door.fetch_sessions

    if epoch in (FINAL_EPOCH, INITIAL_EPOCH):
        if session_id:
            sessions.remove(session_id)
        session = None
        if epoch == INITIAL_EPOCH and ctx.api_version >= 7:
            session = sessions.create()
            for item in wanted:
                if item.topic is not None:
                    session.partitions[(item.topic, item.partition)] = CachedPartition(
                        item.topic,
                        item.topic_id,
                        item.partition,
                        item.fetch_offset,
                        item.max_bytes,
                    )
        return _full_fetch(door, ctx, request, wanted, session)

    session = sessions.get(session_id)
    if session is None:
        return _answer(door, ctx, ErrorCode.fetch_session_id_not_found, 0, [])
    if epoch != session.next_epoch:
        return _answer(door, ctx, ErrorCode.invalid_fetch_session_epoch, session_id, [])
    session.next_epoch += 1
    for item in wanted:
        if item.topic is None:
            continue
        cached = session.partitions.get((item.topic, item.partition))
        if cached is None:
            session.partitions[(item.topic, item.partition)] = CachedPartition(
                item.topic, item.topic_id, item.partition, item.fetch_offset, item.max_bytes
            )
        else:
            cached.fetch_offset = item.fetch_offset
            cached.max_bytes = item.max_bytes
    for key in _forgotten(door, request):
        session.partitions.pop(key, None)
    return _incremental_fetch(door, ctx, request, session)


def _answer(
    door: KafkaFrontDoor,
    ctx: RequestContext,
    error_code: ErrorCode,
    session_id: int,
    topics: list[FetchTopic],
) -> PreEncoded:
    """Encode the response, counting its error codes for the request metrics first: they
    walk kio responses for codes, but this one leaves pre-encoded (one truth test per
    partition here, an increment per error)."""
    if error_code:
        door.requests.count_error(ctx.api_key, error_code)
    for topic in topics:
        for part in topic.partitions:
            if part.error_code:
                door.requests.count_error(ctx.api_key, part.error_code)
    data = FetchResponseData(topics, error_code=error_code, session_id=session_id)
    return PreEncoded(encode_fetch_response(ctx.correlation_id, ctx.api_version, data))


def _add_partition(
    topics: list[FetchTopic],
    topic: str | None,
    topic_id: uuid.UUID | None,
    partition: ResponsePartition,
) -> None:
    """Add `partition` to the response: consecutive partitions of one topic share its entry."""
    if topics:
        last = topics[-1]
        if last.topic == (topic or "") and (last.topic_id is topic_id or last.topic_id == topic_id):
            cast(list[ResponsePartition], last.partitions).append(partition)  # built below

            return
    topics.append(FetchTopic([partition], topic=topic or "", topic_id=topic_id))


def _response_partition(fetched: FetchedPartition) -> ResponsePartition:
    """The wire partition for a read. (Built directly, positionally: one per fetch that
    answers, on the consumer's hot path.)"""
    error = fetched.error
    high_watermark = fetched.high_watermark
    return ResponsePartition(
        fetched.request.partition,
        high_watermark,
        ErrorCode.none if error is None else error_code_for(error),
        # No transactions yet: everything below the high watermark is stable.
        high_watermark,
        fetched.log_start_offset,
        None,  # aborted_transactions: null, as Kafka sends for READ_UNCOMMITTED
        -1,  # preferred_read_replica
        fetched.chunks,
    )


def _full_fetch(
    door: KafkaFrontDoor,
    ctx: RequestContext,
    request: Any,
    wanted: list[_Wanted],
    session: FetchSession | None,
) -> Any:
    fetched = fetch_owned(  # multi-broker mode: other owners' partitions are refused
        door,
        [
            FetchPartition(w.topic, w.partition, w.fetch_offset, w.max_bytes)
            for w in wanted
            if w.topic is not None
        ],
        int(request.max_wait.total_seconds() * 1000),
        request.min_bytes,
        getattr(request, "max_bytes", 2**31 - 1),
    )

    def respond(fetched: list[FetchedPartition]) -> PreEncoded:
        results = iter(fetched)  # in the order of `wanted`, unknown topics left out
        topics: list[FetchTopic] = []
        for item in wanted:
            if item.topic is None:
                unknown = ResponsePartition(item.partition, -1, ErrorCode.unknown_topic_id)
                _add_partition(topics, None, item.topic_id, unknown)
                continue
            result = next(results)
            _add_partition(topics, item.topic, item.topic_id, _response_partition(result))
            if session is not None:
                cached = session.partitions.get((item.topic, item.partition))
                if cached is not None:
                    cached.high_watermark = result.high_watermark
                    cached.log_start_offset = result.log_start_offset
        session_id = session.session_id if session is not None else 0
        return _answer(door, ctx, ErrorCode.none, session_id, topics)

    return _when_read(fetched, respond)


def _incremental_fetch(
    door: KafkaFrontDoor, ctx: RequestContext, request: Any, session: FetchSession
) -> Any:
    cached = list(session.partitions.values())
    fetched = fetch_owned(  # multi-broker mode: other owners' partitions are refused
        door,
        [FetchPartition(c.topic, c.partition, c.fetch_offset, c.max_bytes) for c in cached],
        int(request.max_wait.total_seconds() * 1000),
        request.min_bytes,
        getattr(request, "max_bytes", 2**31 - 1),
    )

    def respond(fetched: list[FetchedPartition]) -> PreEncoded:
        topics: list[FetchTopic] = []
        for entry, result in zip(cached, fetched, strict=True):
            changed = (
                result.size > 0
                or result.error is not None
                or result.high_watermark != entry.high_watermark
                or result.log_start_offset != entry.log_start_offset
            )
            if not changed:
                continue
            entry.high_watermark = result.high_watermark
            entry.log_start_offset = result.log_start_offset
            _add_partition(topics, entry.topic, entry.topic_id, _response_partition(result))
        return _answer(door, ctx, ErrorCode.none, session.session_id, topics)

    return _when_read(fetched, respond)


def _when_read(
    fetched: list[FetchedPartition] | LongPoll,
    respond: Callable[[list[FetchedPartition]], PreEncoded],
) -> PreEncoded | AnswerLater:
    """The response now, or, once the long poll ends, later (the connection keeps the
    response's place in line meanwhile)."""
    if isinstance(fetched, LongPoll):
        return AnswerLater(functools.partial(fetched.then, respond))
    return respond(fetched)
