"""Every configuration key the broker accepts, with its type, default and check.

Keys are dotted paths into `config/config.yml` (`broker.data_dir` is `data_dir` under `broker:`).
The same key can be set by the environment as `RAFKA_` + the path upper-cased with dots as
underscores (`RAFKA_BROKER_DATA_DIR`), and by `rafka broker --set broker.data_dir=...` or a
dedicated flag. One table serves all three so they can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Key:
    path: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    # Returns an error message, or None when the value is acceptable.
    check: Callable[[Any], str | None] | None = None

    @property
    def env_name(self) -> str:
        return "RAFKA_" + self.path.upper().replace(".", "_")


def _at_least(minimum: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value >= minimum else f"must be >= {minimum}, got {value}"

    return check


def _port(value: Any) -> str | None:
    return None if 0 <= value <= 65535 else f"must be a TCP port 0-65535, got {value}"


def _retention(value: Any) -> str | None:
    return None if value == -1 or value >= 0 else f"must be >= 0 or -1 (unlimited), got {value}"


def _slice(value: Any) -> str | None:
    # The kernel's bounds for a requested slice (rafka.server.scheduling).
    if value == 0 or 100 <= value <= 100_000:
        return None
    return f"must be 0 (the kernel's default) or 100-100000 microseconds, got {value}"


KEYS: tuple[Key, ...] = (
    Key("server.host", str, "127.0.0.1", "address every listener binds unless it sets its own"),
    Key("server.port", int, 50051, "gRPC port (the original Rafka's server.port)", check=_port),
    Key(
        "server.scheduler_slice_us",
        int,
        100,
        "scheduler slice the event-loop thread asks Linux for (0: the kernel's default)",
        check=_slice,
    ),
    Key(
        "log.level",
        str,
        "info",
        "logging level",
        choices=("debug", "info", "warning", "error", "critical"),
    ),
    Key("broker.id", int, 0, "this broker's id in Metadata responses", check=_at_least(0)),
    Key("broker.data_dir", str, "./data", "directory holding topics, partitions and metadata"),
    Key("broker.auto_create_topics", bool, True, "create unknown topics on Metadata/Produce"),
    Key(
        "broker.default_partitions", int, 1, "partitions of auto-created topics", check=_at_least(1)
    ),
    Key(
        "broker.retention_check_ms",
        int,
        300_000,
        "how often retention runs (log.retention.check.interval.ms)",
        check=_at_least(1),
    ),
    Key("storage.type", str, "disk", "partition log engine", choices=("disk", "in_memory")),
    Key(
        "storage.segment_bytes", int, 1024**3, "roll a segment at this size", check=_at_least(1024)
    ),
    Key("storage.segment_ms", int, 7 * DAY_MS, "roll a segment at this age", check=_at_least(1)),
    Key(
        "storage.index_interval_bytes",
        int,
        4096,
        "bytes between sparse offset index entries",
        check=_at_least(1),
    ),
    Key(
        "storage.retention_ms",
        int,
        7 * DAY_MS,
        "delete segments older than this (-1: never)",
        check=_retention,
    ),
    Key(
        "storage.retention_bytes", int, -1, "per-partition size limit (-1: none)", check=_retention
    ),
    Key(
        "storage.flush_messages",
        int,
        0,
        "fsync after this many messages (1: before every acknowledgement; 0: see flush_ms)",
        check=_at_least(0),
    ),
    Key(
        "storage.flush_ms",
        int,
        1000,
        "fsync at least this often (0: leave it to the OS)",
        check=_at_least(0),
    ),
    Key(
        "storage.max_message_bytes",
        int,
        1024 * 1024 + 12,
        "largest record batch accepted (max.message.bytes)",
        check=_at_least(64),
    ),
    Key(
        "groups.offsets_topic_partitions",
        int,
        4,
        "partitions of __consumer_offsets when it is created (offsets.topic.num.partitions)",
        check=_at_least(1),
    ),
    Key(
        "groups.offsets_retention_minutes",
        int,
        7 * 24 * 60,
        "expire committed offsets of groups empty this long (offsets.retention.minutes)",
        check=_at_least(1),
    ),
    Key(
        "groups.offsets_retention_check_ms",
        int,
        600_000,
        "how often offset expiry runs (offsets.retention.check.interval.ms)",
        check=_at_least(1),
    ),
    Key(
        "groups.min_session_timeout_ms",
        int,
        6_000,
        "shortest session timeout a member may ask for (group.min.session.timeout.ms)",
        check=_at_least(1),
    ),
    Key(
        "groups.max_session_timeout_ms",
        int,
        1_800_000,
        "longest session timeout a member may ask for (group.max.session.timeout.ms)",
        check=_at_least(1),
    ),
    Key(
        "groups.initial_rebalance_delay_ms",
        int,
        3_000,
        "wait for more members before an empty group's first rebalance "
        "(group.initial.rebalance.delay.ms)",
        check=_at_least(0),
    ),
    Key(
        "groups.max_size",
        int,
        2**31 - 1,
        "most members one group may have (group.max.size)",
        check=_at_least(1),
    ),
    Key(
        "groups.offset_metadata_max_bytes",
        int,
        4096,
        "longest metadata string an offset commit may carry (offset.metadata.max.bytes)",
        check=_at_least(0),
    ),
    Key(
        "cluster.partition",
        int,
        0,
        "multi-broker mode: the partition of every topic this broker owns",
        check=_at_least(0),
    ),
    Key(
        "cluster.total_partitions",
        int,
        0,
        "multi-broker mode: partitions of every topic, one per broker (0: single node)",
        check=_at_least(0),
    ),
    Key(
        "cluster.peers",
        str,
        "",
        "multi-broker mode: every broker's gRPC host:port, comma-separated, in partition order",
    ),
    Key(
        "cluster.kafka_peers",
        str,
        "",
        "multi-broker mode: the same brokers' Kafka host:port as clients reach them "
        "(advertised), comma-separated, in the order of cluster.peers",
    ),
    Key("listeners.kafka.enabled", bool, True, "serve the Kafka wire protocol"),
    Key("listeners.kafka.host", str, "", "Kafka bind address (empty: server.host)"),
    Key("listeners.kafka.port", int, 9092, "Kafka port (0: any free port)", check=_port),
    Key(
        "listeners.kafka.advertised_host",
        str,
        "",
        "host clients are told to connect to (empty: the bind address)",
    ),
    Key(
        "listeners.kafka.advertised_port",
        int,
        0,
        "port clients are told to connect to (0: the bound port)",
        check=_port,
    ),
    Key(
        "listeners.kafka.max_request_bytes",
        int,
        100 * 1024 * 1024,
        "largest request frame (socket.request.max.bytes)",
        check=_at_least(1024),
    ),
    Key("listeners.grpc.enabled", bool, True, "serve the gRPC API"),
    Key("listeners.grpc.host", str, "", "gRPC bind address (empty: server.host)"),
    Key("listeners.grpc.port", int, -1, "gRPC port (-1: server.port)", check=_at_least(-1)),
    Key("listeners.http.enabled", bool, True, "serve /metrics, health and the console"),
    Key("listeners.http.host", str, "", "HTTP bind address (empty: server.host)"),
    Key("listeners.http.port", int, 8080, "HTTP port", check=_port),
    Key(
        "console.allow_writes",
        bool,
        False,
        "let the web console and /api/v1 create and delete topics (read-only otherwise)",
    ),
)

KEYS_BY_PATH: dict[str, Key] = {key.path: key for key in KEYS}
KEYS_BY_ENV: dict[str, Key] = {key.env_name: key for key in KEYS}


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    enabled: bool
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """The resolved configuration a broker process runs with."""

    values: dict[str, Any]

    def __getitem__(self, path: str) -> Any:
        return self.values[path]

    @property
    def data_dir(self) -> Path:
        return Path(self.values["broker.data_dir"])

    def listener(self, name: str) -> ListenerConfig:
        host = self.values[f"listeners.{name}.host"] or self.values["server.host"]
        port = self.values[f"listeners.{name}.port"]
        if name == "grpc" and port == -1:
            port = self.values["server.port"]
        return ListenerConfig(self.values[f"listeners.{name}.enabled"], host, port)
