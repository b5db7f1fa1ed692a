"""Topic-level configuration: Kafka's config names, their parsing, and the LogConfig they make.

Kafka clients send and expect these names (`retention.ms`, `cleanup.policy`, ...) in
CreateTopics, DescribeConfigs and the AlterConfigs family, so they are the names we store.
A topic keeps only the values someone set explicitly; the rest come from the broker defaults,
which is also how DescribeConfigs tells "topic override" from "default".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rafka.broker.errors import InvalidConfigError
from rafka.log import LogConfig
from rafka.records import TimestampType


def _int(minimum: int, allow_minus_one: bool = False) -> Callable[[str, str], int]:
    def parse(name: str, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise InvalidConfigError(f"{name}: expected an integer, got {text!r}") from None
        if value == -1 and allow_minus_one:
            return value
        if value < minimum:
            extra = " or -1" if allow_minus_one else ""
            raise InvalidConfigError(f"{name}: must be >= {minimum}{extra}, got {value}")
        return value

    return parse


def _ratio(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidConfigError(f"{name}: expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise InvalidConfigError(f"{name}: must be between 0 and 1, got {text}")
    return value


def _cleanup_policy(name: str, text: str) -> str:
    parts = sorted({part.strip() for part in text.split(",") if part.strip()})
    if not parts or any(part not in ("delete", "compact") for part in parts):
        raise InvalidConfigError(f"{name}: must be delete, compact or both, got {text!r}")
    return ",".join(parts)


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, text: str) -> str:
        if text not in allowed:
            raise InvalidConfigError(f"{name}: must be one of {', '.join(allowed)}, got {text!r}")
        return text

    return parse


def _timestamp_type(name: str, text: str) -> TimestampType:
    if text == "CreateTime":
        return TimestampType.CREATE_TIME
    if text == "LogAppendTime":
        return TimestampType.LOG_APPEND_TIME
    raise InvalidConfigError(f"{name}: must be CreateTime or LogAppendTime, got {text!r}")


def _timestamp_type_text(value: object) -> str:
    return "LogAppendTime" if value == TimestampType.LOG_APPEND_TIME else "CreateTime"


@dataclass(frozen=True, slots=True)
class TopicConfigKey:
    name: str
    field: str  # the LogConfig field it sets ("" when it has no effect on the log yet)
    parse: Callable[[str, str], object]
    doc: str
    to_text: Callable[[object], str] = str


TOPIC_CONFIG_KEYS: dict[str, TopicConfigKey] = {
    key.name: key
    for key in (
        TopicConfigKey("retention.ms", "retention_ms", _int(0, True), "delete segments older"),
        TopicConfigKey("retention.bytes", "retention_bytes", _int(0, True), "size limit"),
        TopicConfigKey("segment.bytes", "segment_bytes", _int(14), "segment size"),
        TopicConfigKey("segment.ms", "segment_ms", _int(1), "segment age before a roll"),
        TopicConfigKey("segment.index.bytes", "segment_index_bytes", _int(4), "index size"),
        TopicConfigKey("index.interval.bytes", "index_interval_bytes", _int(0), "index density"),
        TopicConfigKey("max.message.bytes", "max_message_bytes", _int(0), "largest batch"),
        TopicConfigKey("flush.messages", "flush_messages", _int(0), "fsync every N messages"),
        TopicConfigKey("flush.ms", "flush_ms", _int(0), "fsync at least this often"),
        TopicConfigKey("cleanup.policy", "cleanup_policy", _cleanup_policy, "delete | compact"),
        TopicConfigKey(
            "message.timestamp.type",
            "message_timestamp_type",
            _timestamp_type,
            "CreateTime | LogAppendTime",
            _timestamp_type_text,
        ),
        TopicConfigKey("file.delete.delay.ms", "file_delete_delay_ms", _int(0), "delete delay"),
        # Log compaction (rafka.log.cleaner).
        TopicConfigKey(
            "delete.retention.ms", "delete_retention_ms", _int(0), "tombstones outlive a clean"
        ),
        TopicConfigKey(
            "min.cleanable.dirty.ratio",
            "min_cleanable_dirty_ratio",
            _ratio,
            "uncleaned share of the log that triggers a clean",
        ),
        TopicConfigKey(
            "min.compaction.lag.ms", "min_compaction_lag_ms", _int(0), "keep this long uncompacted"
        ),
        # Accepted and stored so clients that always send them work; they matter once
        # replication exists.
        TopicConfigKey("min.insync.replicas", "", _int(1), "replicas that must acknowledge"),
        TopicConfigKey(
            "unclean.leader.election.enable", "", _choice("true", "false"), "elect lagging leaders"
        ),
        TopicConfigKey(
            "compression.type",
            "",
            _choice("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"),
            "only 'producer' changes nothing: batches are stored as sent",
        ),
    )
}


def validate_topic_configs(configs: Mapping[str, str | None]) -> dict[str, str]:
    """Check names and values; return the non-null ones normalised. Raises InvalidConfigError."""
    normalised: dict[str, str] = {}
    for name, text in configs.items():
        key = TOPIC_CONFIG_KEYS.get(name)
        if key is None:
            raise InvalidConfigError(f"unknown topic config {name!r}")
        if text is None:
            continue
        value = key.parse(name, text)
        normalised[name] = key.to_text(value)
    return normalised


def log_config_for(overrides: Mapping[str, str], defaults: LogConfig) -> LogConfig:
    """The LogConfig a partition runs with: broker defaults with the topic's overrides on top."""
    changes: dict[str, Any] = {}
    for name, text in overrides.items():
        key = TOPIC_CONFIG_KEYS[name]
        if key.field:
            changes[key.field] = key.parse(name, text)
    return dataclasses.replace(defaults, **changes)


def effective_topic_configs(
    overrides: Mapping[str, str], defaults: LogConfig
) -> dict[str, tuple[str, bool]]:
    """Every known topic config as text, with True where the topic overrides the default."""
    result: dict[str, tuple[str, bool]] = {}
    for name, key in TOPIC_CONFIG_KEYS.items():
        if name in overrides:
            result[name] = (overrides[name], True)
        elif key.field:
            result[name] = (key.to_text(getattr(defaults, key.field)), False)
        elif name == "min.insync.replicas":
            result[name] = ("1", False)
        elif name == "unclean.leader.election.enable":
            result[name] = ("false", False)
        elif name == "compression.type":
            result[name] = ("producer", False)
    return result
