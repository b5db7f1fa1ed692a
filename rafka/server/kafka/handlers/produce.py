"""Produce: validate and append each partition's batches, then acknowledge per `acks`.

Appends happen synchronously, in request order, before anything is awaited, so pipelined
produce requests on one connection land in the order they were sent. Only the wait for an
fsync (topics with flush.messages=1) is asynchronous, shared between concurrent requests.
The response is written by a hand encoder (`rafka.protocol.produce_response`), not kio: on
small requests building and writing the kio entity cost about half the broker's CPU.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from rafka.broker import Partition
from rafka.broker.errors import BrokerError, InvalidTopicError
from rafka.log import LogError
from rafka.protocol.produce_response import (
    ProducePartitionResult,
    ProduceTopicResult,
    encode_produce_response,
)
from rafka.records import BatchError, InvalidBatchError
from rafka.server.kafka.context import PreEncoded, RequestContext
from rafka.server.kafka.errors import error_code_for
from rafka.server.kafka.ownership import check_owner

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor

VALID_ACKS = (0, 1, -1)


def handle_produce(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    broker = door.broker
    acks = request.acks
    to_flush: list[tuple[Partition, int]] = []
    topics: list[ProduceTopicResult] = []
    errors: dict[int, int] = {}
    # Refusals of the whole request, decided once rather than per partition.
    refusal: tuple[ErrorCode, str | None] | None = None
    if acks not in VALID_ACKS:
        refusal = ErrorCode.invalid_required_acks, f"acks must be 0, 1 or -1, got {acks}"
    elif request.transactional_id is not None:
        refusal = ErrorCode.transactional_id_authorization_failed, (
            "transactions are not supported yet"
        )
    multi_broker = bool(door.layout.total_partitions)
    for topic_data in request.topic_data:
        name = getattr(topic_data, "name", None)
        topic_id = getattr(topic_data, "topic_id", None)
        if name is None and topic_id is not None:
            found = door.topic_by_id(topic_id)
            name = found.name if found is not None else None
        results: list[ProducePartitionResult] = []
        for data in topic_data.partition_data:
            code, message = ErrorCode.none, None
            if refusal is not None:
                code, message = refusal
            elif name is None:
                code = ErrorCode.unknown_topic_id
            else:
                try:
                    if multi_broker:
                        check_owner(door, name, data.index)  # the owner only
                    partition = broker.get_partition(name, data.index)
                    if broker.topics[name].record.internal:
                        # Only the group coordinator writes __consumer_offsets, as in Kafka.
                        raise InvalidTopicError(
                            f"topic {name!r} is internal; clients cannot write it"
                        )
                    if data.records is None:
                        raise InvalidBatchError("produce request has null records")
                    appended = partition.append(data.records)
                except (BrokerError, BatchError, LogError) as exc:
                    code, message = error_code_for(exc), str(exc)
            if code:
                errors[code] = errors.get(code, 0) + 1
                results.append(ProducePartitionResult(data.index, code, error_message=message))
                continue
            log = partition.log
            if log.config.flush_messages == 1:
                to_flush.append((partition, appended.last_offset + 1))
            elif log.needs_flush(broker.clock()):
                partition.flush_in_background()
            results.append(
                ProducePartitionResult(
                    data.index,
                    0,
                    appended.base_offset,
                    appended.log_append_time_ms,
                    appended.log_start_offset,
                )
            )
        topics.append(ProduceTopicResult(name, topic_id, results))

    if errors:
        door.requests.count_errors(ctx.api_key, errors)
    if acks == 0:
        # Kafka never answers acks=0; a failed append is only visible in broker logs/metrics.
        return None
    if not to_flush:
        return PreEncoded(encode_produce_response(ctx.correlation_id, ctx.api_version, topics))
    return _after_flush(door, ctx, topics, to_flush)


async def _after_flush(
    door: KafkaFrontDoor,
    ctx: RequestContext,
    topics: list[ProduceTopicResult],
    to_flush: list[tuple[Partition, int]],
) -> PreEncoded:
    """Acknowledge only once the appended batches are on disk (flush.messages=1)."""
    outcomes = await asyncio.gather(
        *(partition.flush_through(end) for partition, end in to_flush), return_exceptions=True
    )
    failed = {
        (partition.topic, partition.index)
        for (partition, _), outcome in zip(to_flush, outcomes, strict=True)
        if isinstance(outcome, BaseException)
    }
    if failed:
        storage_error = ErrorCode.kafka_storage_error
        topics = [
            ProduceTopicResult(
                topic.name,
                topic.topic_id,
                [
                    ProducePartitionResult(
                        p.index,
                        storage_error,
                        error_message="fsync failed; the batch may not be durable",
                    )
                    if (topic.name, p.index) in failed
                    else p
                    for p in topic.partitions
                ],
            )
            for topic in topics
        ]
        door.requests.count_errors(ctx.api_key, {storage_error: len(failed)})
    return PreEncoded(encode_produce_response(ctx.correlation_id, ctx.api_version, topics))
