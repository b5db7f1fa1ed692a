"""Produce: validate and append each partition's batches, then acknowledge per `acks`.

Appends happen synchronously, in request order, before anything is awaited, so pipelined
produce requests on one connection land in the order they were sent. Only the wait for an
fsync (topics with flush.messages=1) is asynchronous, shared between concurrent requests.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from rafka.broker import Partition
from rafka.broker.errors import BrokerError, InvalidTopicError
from rafka.log import LogError
from rafka.records import BatchError, InvalidBatchError
from rafka.server.kafka.context import NO_THROTTLE, RequestContext
from rafka.server.kafka.errors import error_code_for

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor

VALID_ACKS = (0, 1, -1)


def _partition_result(
    index: int, code: ErrorCode, message: str | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "index": index,
        "error_code": code,
        "base_offset": fields.get("base_offset", -1),
        "log_append_time": fields.get("log_append_time"),
        "log_start_offset": fields.get("log_start_offset", -1),
        "record_errors": (),
        "error_message": message,
    }


def handle_produce(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    broker = door.broker
    acks = request.acks
    to_flush: list[tuple[Partition, int]] = []
    topics: list[dict[str, Any]] = []
    for topic_data in request.topic_data:
        name = getattr(topic_data, "name", None)
        topic_id = getattr(topic_data, "topic_id", None)
        if name is None and topic_id is not None:
            found = door.topic_by_id(topic_id)
            name = found.name if found is not None else None
        results = []
        for data in topic_data.partition_data:
            if acks not in VALID_ACKS:
                results.append(
                    _partition_result(
                        data.index,
                        ErrorCode.invalid_required_acks,
                        f"acks must be 0, 1 or -1, got {acks}",
                    )
                )
                continue
            if request.transactional_id is not None:
                results.append(
                    _partition_result(
                        data.index,
                        ErrorCode.transactional_id_authorization_failed,
                        "transactions are not supported yet",
                    )
                )
                continue
            try:
                if name is None:
                    results.append(_partition_result(data.index, ErrorCode.unknown_topic_id))
                    continue
                partition = broker.get_partition(name, data.index)
                if broker.topics[name].record.internal:
                    # Only the group coordinator writes __consumer_offsets, as in Kafka.
                    raise InvalidTopicError(f"topic {name!r} is internal; clients cannot write it")
                if data.records is None:
                    raise InvalidBatchError("produce request has null records")
                appended = partition.append(data.records)
            except (BrokerError, BatchError, LogError) as exc:
                results.append(_partition_result(data.index, error_code_for(exc), str(exc)))
                continue
            if partition.log.config.flush_messages == 1:
                to_flush.append((partition, appended.last_offset + 1))
            elif partition.log.needs_flush(broker.clock()):
                partition.flush_in_background()
            append_time = (
                datetime.fromtimestamp(appended.log_append_time_ms / 1000, tz=UTC)
                if appended.log_append_time_ms >= 0
                else None
            )
            results.append(
                _partition_result(
                    data.index,
                    ErrorCode.none,
                    base_offset=appended.base_offset,
                    log_append_time=append_time,
                    log_start_offset=appended.log_start_offset,
                )
            )
        topics.append({"name": name, "topic_id": topic_id, "partition_responses": results})

    if acks == 0:
        # Kafka never answers acks=0; a failed append is only visible in broker logs/metrics.
        return None
    response = {"responses": topics, "throttle_time": NO_THROTTLE}
    if not to_flush:
        return ctx.response(response)
    return _after_flush(ctx, response, to_flush)


async def _after_flush(
    ctx: RequestContext, response: dict[str, Any], to_flush: list[tuple[Partition, int]]
) -> Any:
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
        for topic in response["responses"]:
            for result in topic["partition_responses"]:
                if (topic["name"], result["index"]) in failed:
                    result["error_code"] = ErrorCode.kafka_storage_error
                    result["error_message"] = "fsync failed; the batch may not be durable"
    return ctx.response(response)
