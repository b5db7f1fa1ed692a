"""CreateTopics, DeleteTopics and CreatePartitions.

In multi-broker mode every topic has one partition per broker, so CreateTopics accepts only
that count (or the default) and CreatePartitions is refused. Each acts on the broker asked:
the others create their share of a topic when a client first uses it there
(`ownership.py`), and a delete must be sent to every broker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from rafka.broker.errors import BrokerError, InvalidPartitionsError, InvalidRequestError
from rafka.broker.topic_config import (
    effective_topic_configs,
    log_config_for,
    validate_topic_configs,
)
from rafka.server.kafka.context import NO_THROTTLE, RequestContext
from rafka.server.kafka.errors import error_code_for
from rafka.server.kafka.handlers.configs import SOURCE_DEFAULT, SOURCE_TOPIC

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor


def handle_create_topics(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    broker = door.broker
    results = []
    seen: set[str] = set()
    for wanted in request.topics:
        entry: dict[str, Any] = {
            "name": wanted.name,
            "topic_id": None,
            "error_code": ErrorCode.none,
            "error_message": None,
            "num_partitions": -1,
            "replication_factor": -1,
            "configs": None,
        }
        try:
            if wanted.name in seen:
                raise InvalidRequestError(f"topic {wanted.name!r} appears twice in the request")
            seen.add(wanted.name)
            partitions = wanted.num_partitions
            if wanted.assignments:
                if partitions != -1:
                    raise InvalidRequestError(
                        "give either a partition count or replica assignments, not both"
                    )
                partitions = len(wanted.assignments)
            _check_layout_count(door, partitions)
            configs = {config.name: config.value for config in wanted.configs}
            created = broker.create_topic(
                wanted.name,
                partitions,
                configs,
                replication_factor=wanted.replication_factor,
                validate_only=request.validate_only,
            )
            count = partitions if partitions != -1 else broker.settings.default_partitions
            entry["num_partitions"] = count
            entry["replication_factor"] = 1
            if created is not None:
                entry["topic_id"] = created.record.topic_id
                overrides, defaults = created.record.configs, created.log_config
            else:
                overrides = validate_topic_configs(configs)
                defaults = log_config_for(overrides, broker.settings.log_defaults)
            entry["configs"] = [
                {
                    "name": name,
                    "value": value,
                    "read_only": False,
                    "config_source": SOURCE_TOPIC if is_set else SOURCE_DEFAULT,
                    "is_sensitive": False,
                }
                for name, (value, is_set) in effective_topic_configs(overrides, defaults).items()
            ]
        except BrokerError as exc:
            entry["error_code"] = error_code_for(exc)
            entry["error_message"] = str(exc)
        results.append(entry)
    return ctx.response({"throttle_time": NO_THROTTLE, "topics": results})


def handle_delete_topics(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    # v0-5 send a list of names; v6 sends {name, topic_id} states.
    wanted: list[tuple[str | None, Any]] = []
    if hasattr(request, "topic_names"):
        wanted = [(name, None) for name in request.topic_names]
    else:
        wanted = [(state.name, state.topic_id) for state in request.topics]
    results = []
    for name, topic_id in wanted:
        entry: dict[str, Any] = {
            "name": name,
            "topic_id": topic_id,
            "error_code": ErrorCode.none,
            "error_message": None,
        }
        if name is None and topic_id is not None:
            found = door.topic_by_id(topic_id)
            if found is None:
                entry["error_code"] = ErrorCode.unknown_topic_id
                results.append(entry)
                continue
            name = entry["name"] = found.name
        try:
            assert name is not None
            existing = door.broker.topics.get(name)
            if existing is not None and existing.record.internal:
                # Kafka refuses to delete its internal topics: losing __consumer_offsets
                # would silently reset every group.
                raise InvalidRequestError(f"topic {name!r} is internal and cannot be deleted")
            door.broker.delete_topic(name)
            door.fetch_sessions.forget_topic(name)
        except BrokerError as exc:
            entry["error_code"] = error_code_for(exc)
            entry["error_message"] = str(exc)
        results.append(entry)
    return ctx.response({"throttle_time": NO_THROTTLE, "responses": results})


def handle_create_partitions(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    results = []
    for wanted in request.topics:
        entry: dict[str, Any] = {
            "name": wanted.name,
            "error_code": ErrorCode.none,
            "error_message": None,
        }
        try:
            total = door.layout.total_partitions
            if total:
                raise InvalidPartitionsError(
                    f"in multi-broker mode every topic has {total} partitions, one per broker; "
                    "the count cannot change"
                )
            door.broker.create_partitions(wanted.name, wanted.count, request.validate_only)
        except BrokerError as exc:
            entry["error_code"] = error_code_for(exc)
            entry["error_message"] = str(exc)
        results.append(entry)
    return ctx.response({"throttle_time": NO_THROTTLE, "results": results})


def _check_layout_count(door: KafkaFrontDoor, partitions: int) -> None:
    total = door.layout.total_partitions
    if total and partitions not in (-1, total):
        raise InvalidPartitionsError(
            f"in multi-broker mode every topic has {total} partitions (one per broker); "
            f"got {partitions}"
        )
