"""ListOffsets, OffsetForLeaderEpoch and DeleteRecords: questions about a partition's offsets.

Each is answered by the partition's owner only (`ownership.py`); other brokers say
NOT_LEADER_OR_FOLLOWER.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from rafka.broker.errors import BrokerError
from rafka.log import LogError, OffsetOutOfRangeError
from rafka.server.kafka.context import NO_THROTTLE, RequestContext
from rafka.server.kafka.errors import error_code_for
from rafka.server.kafka.ownership import check_owner

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
LATEST_TIERED = -5


def handle_list_offsets(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    topics = []
    for topic in request.topics:
        results = []
        for part in topic.partitions:
            entry: dict[str, Any] = {
                "partition_index": part.partition_index,
                "error_code": ErrorCode.none,
                "timestamp": -1,
                "offset": -1,
                "leader_epoch": -1,
                "old_style_offsets": (),
            }
            try:
                check_owner(door, topic.name, part.partition_index)
                partition = door.broker.get_partition(topic.name, part.partition_index)
            except BrokerError as exc:
                entry["error_code"] = error_code_for(exc)
                results.append(entry)
                continue
            log = partition.log
            timestamp = part.timestamp
            if timestamp == LATEST:
                entry["offset"] = log.high_watermark
            elif timestamp in (EARLIEST, EARLIEST_LOCAL):
                entry["offset"] = log.log_start_offset
            elif timestamp == LATEST_TIERED:
                entry["offset"] = log.log_start_offset - 1
            elif timestamp == MAX_TIMESTAMP:
                found = log.max_timestamp()
                if found is not None:
                    entry["timestamp"], entry["offset"] = found.timestamp_ms, found.offset
            elif timestamp < 0:
                entry["error_code"] = ErrorCode.invalid_request
            else:
                found = log.offset_for_timestamp(timestamp)
                if found is not None:
                    entry["timestamp"], entry["offset"] = found.timestamp_ms, found.offset
            if entry["offset"] >= 0:
                entry["leader_epoch"] = partition.leader_epoch
            results.append(entry)
        topics.append({"name": topic.name, "partitions": results})
    return ctx.response({"throttle_time": NO_THROTTLE, "topics": topics})


def handle_offset_for_leader_epoch(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    topics = []
    for topic in request.topics:
        results = []
        for part in topic.partitions:
            entry: dict[str, Any] = {
                "error_code": ErrorCode.none,
                "partition": part.partition,
                "leader_epoch": -1,
                "end_offset": -1,
            }
            try:
                check_owner(door, topic.topic, part.partition)
                partition = door.broker.get_partition(topic.topic, part.partition)
                current = part.current_leader_epoch
                if current >= 0 and current < partition.leader_epoch:
                    entry["error_code"] = ErrorCode.fenced_leader_epoch
                elif current > partition.leader_epoch:
                    entry["error_code"] = ErrorCode.unknown_leader_epoch
                else:
                    epoch, end = partition.log.end_offset_for_epoch(part.leader_epoch)
                    entry["leader_epoch"], entry["end_offset"] = epoch, end
            except BrokerError as exc:
                entry["error_code"] = error_code_for(exc)
            results.append(entry)
        topics.append({"topic": topic.topic, "partitions": results})
    return ctx.response({"throttle_time": NO_THROTTLE, "topics": topics})


def handle_delete_records(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    topics = []
    for topic in request.topics:
        results = []
        for part in topic.partitions:
            entry: dict[str, Any] = {
                "partition_index": part.partition_index,
                "low_watermark": -1,
                "error_code": ErrorCode.none,
            }
            try:
                check_owner(door, topic.name, part.partition_index)
                partition = door.broker.get_partition(topic.name, part.partition_index)
                log = partition.log
                target = log.high_watermark if part.offset == -1 else part.offset
                if not 0 <= target <= log.high_watermark:
                    raise OffsetOutOfRangeError(
                        f"offset {part.offset} is outside [0, {log.high_watermark}]"
                    )
                entry["low_watermark"] = log.delete_records_before(target)
            except (BrokerError, LogError) as exc:
                entry["error_code"] = error_code_for(exc)
            results.append(entry)
        topics.append({"name": topic.name, "partitions": results})
    return ctx.response({"throttle_time": NO_THROTTLE, "topics": topics})
