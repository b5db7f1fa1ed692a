"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (and a read-only view
of the broker's own settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from rafka.broker.errors import BrokerError, InvalidConfigError, InvalidRequestError
from rafka.broker.topic_config import TOPIC_CONFIG_KEYS, effective_topic_configs
from rafka.server.kafka.context import NO_THROTTLE, RequestContext
from rafka.server.kafka.errors import error_code_for

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor

RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4
# DescribeConfigs config_source values.
SOURCE_TOPIC = 1
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5
# DescribeConfigs config_type values.
TYPE_STRING = 2
TYPE_INT = 3
TYPE_LONG = 5
TYPE_DOUBLE = 6
TYPE_LIST = 7
# IncrementalAlterConfigs operations.
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3

_LONG_CONFIGS = {
    "retention.ms",
    "retention.bytes",
    "segment.ms",
    "flush.messages",
    "flush.ms",
    "file.delete.delay.ms",
    "delete.retention.ms",
    "min.compaction.lag.ms",
}


def _config_type(name: str) -> int:
    if name in _LONG_CONFIGS:
        return TYPE_LONG
    if name == "cleanup.policy":
        return TYPE_LIST
    if name == "min.cleanable.dirty.ratio":
        return TYPE_DOUBLE
    if name in ("message.timestamp.type", "compression.type", "unclean.leader.election.enable"):
        return TYPE_STRING
    return TYPE_INT


def _describe_topic(door: KafkaFrontDoor, name: str, keys: Any, docs: bool) -> list[dict[str, Any]]:
    topic = door.broker.get_topic(name)
    configs = []
    for config_name, (value, is_set) in effective_topic_configs(
        topic.record.configs, door.broker.settings.log_defaults
    ).items():
        if keys and config_name not in keys:
            continue
        source = SOURCE_TOPIC if is_set else SOURCE_DEFAULT
        configs.append(
            {
                "name": config_name,
                "value": value,
                "read_only": False,
                "is_default": not is_set,
                "config_source": source,
                "is_sensitive": False,
                "synonyms": [{"name": config_name, "value": value, "source": source}],
                "config_type": _config_type(config_name),
                "documentation": TOPIC_CONFIG_KEYS[config_name].doc if docs else None,
            }
        )
    return configs


def _describe_broker(door: KafkaFrontDoor, keys: Any) -> list[dict[str, Any]]:
    settings = door.broker.settings
    values = {
        "broker.id": str(settings.broker_id),
        "log.dirs": str(settings.data_dir or ""),
        "auto.create.topics.enable": str(settings.auto_create_topics).lower(),
        "num.partitions": str(settings.default_partitions),
        "log.retention.ms": str(settings.log_defaults.retention_ms),
        "log.retention.bytes": str(settings.log_defaults.retention_bytes),
        "log.segment.bytes": str(settings.log_defaults.segment_bytes),
        "message.max.bytes": str(settings.log_defaults.max_message_bytes),
    }
    return [
        {
            "name": name,
            "value": value,
            "read_only": True,
            "is_default": False,
            "config_source": SOURCE_STATIC_BROKER,
            "is_sensitive": False,
            "synonyms": [],
            "config_type": TYPE_STRING,
            "documentation": None,
        }
        for name, value in values.items()
        if not keys or name in keys
    ]


def handle_describe_configs(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    results = []
    docs = bool(getattr(request, "include_documentation", False))
    for resource in request.resources:
        entry: dict[str, Any] = {
            "error_code": ErrorCode.none,
            "error_message": None,
            "resource_type": resource.resource_type,
            "resource_name": resource.resource_name,
            "configs": [],
        }
        try:
            keys = resource.configuration_keys
            if resource.resource_type == RESOURCE_TOPIC:
                entry["configs"] = _describe_topic(door, resource.resource_name, keys, docs)
            elif resource.resource_type == RESOURCE_BROKER:
                entry["configs"] = _describe_broker(door, keys)
            else:
                raise InvalidRequestError(
                    f"config resource type {resource.resource_type} is not supported"
                )
        except BrokerError as exc:
            entry["error_code"] = error_code_for(exc)
            entry["error_message"] = str(exc)
        results.append(entry)
    return ctx.response({"throttle_time": NO_THROTTLE, "results": results})


def _alter(door: KafkaFrontDoor, ctx: RequestContext, request: Any, incremental: bool) -> Any:
    responses = []
    for resource in request.resources:
        entry: dict[str, Any] = {
            "error_code": ErrorCode.none,
            "error_message": None,
            "resource_type": resource.resource_type,
            "resource_name": resource.resource_name,
        }
        try:
            if resource.resource_type == RESOURCE_BROKER:
                raise InvalidRequestError("broker configs are read-only; set them at start-up")
            if resource.resource_type != RESOURCE_TOPIC:
                raise InvalidRequestError(
                    f"config resource type {resource.resource_type} is not supported"
                )
            topic = door.broker.get_topic(resource.resource_name)
            if incremental:
                configs: dict[str, str | None] = dict(topic.record.configs)
                for change in resource.configs:
                    _apply_incremental(configs, change)
            else:
                configs = {change.name: change.value for change in resource.configs}
            door.broker.set_topic_configs(topic.name, configs, request.validate_only)
        except BrokerError as exc:
            entry["error_code"] = error_code_for(exc)
            entry["error_message"] = str(exc)
        responses.append(entry)
    return ctx.response({"throttle_time": NO_THROTTLE, "responses": responses})


def _apply_incremental(configs: dict[str, str | None], change: Any) -> None:
    name, value, op = change.name, change.value, change.config_operation
    if name not in TOPIC_CONFIG_KEYS:
        raise InvalidConfigError(f"unknown topic config {name!r}")
    if op == OP_SET:
        configs[name] = value
    elif op == OP_DELETE:
        configs.pop(name, None)
    elif op in (OP_APPEND, OP_SUBTRACT):
        if name != "cleanup.policy":
            raise InvalidConfigError(f"{name} is not a list; APPEND/SUBTRACT do not apply")
        current = set((configs.get(name) or "delete").split(","))
        items = {item.strip() for item in (value or "").split(",") if item.strip()}
        current = current | items if op == OP_APPEND else current - items
        configs[name] = ",".join(sorted(current)) if current else None
    else:
        raise InvalidRequestError(f"config operation {op} is unknown")


def handle_alter_configs(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    return _alter(door, ctx, request, incremental=False)


def handle_incremental_alter_configs(
    door: KafkaFrontDoor, ctx: RequestContext, request: Any
) -> Any:
    return _alter(door, ctx, request, incremental=True)
