"""The broker core: the topics and partitions this node serves, and what may be done to them.

Front doors (Kafka, gRPC, HTTP) call this; it calls the log. It knows nothing of any wire
protocol. Everything here runs on the event loop thread except fsyncs, which run on a small
executor so that a slow disk never stalls the loop.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rafka.broker.cleaning import LogCleanerService
from rafka.broker.errors import (
    BrokerShuttingDownError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from rafka.broker.partition import Partition
from rafka.broker.producers import ProducerIdAllocator
from rafka.broker.topic_config import log_config_for, validate_topic_configs
from rafka.broker.topics import (
    TopicRecord,
    TopicRegistry,
    partition_dir_name,
    validate_topic_name,
)
from rafka.log import LogConfig, PartitionLog, open_log

logger = logging.getLogger("rafka.broker")

MAX_PARTITIONS_PER_TOPIC = 10_000


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    broker_id: int = 0
    data_dir: Path | None = None
    engine: Literal["disk", "in_memory"] = "disk"
    auto_create_topics: bool = True
    default_partitions: int = 1
    log_defaults: LogConfig = field(default_factory=LogConfig)
    retention_check_ms: int = 300_000
    flush_check_ms: int = 100
    # Set (multi-broker mode, `cluster.py`): topic ids are uuid5(namespace, name), so brokers
    # that each create their own share of a topic give it the same id. None: random ids.
    topic_id_namespace: uuid.UUID | None = None


@dataclass(slots=True)
class Topic:
    record: TopicRecord
    partitions: list[Partition]
    log_config: LogConfig

    @property
    def name(self) -> str:
        return self.record.name


class Broker:
    def __init__(self, settings: BrokerSettings, clock: Callable[[], int] = wall_clock_ms) -> None:
        if settings.engine == "disk" and settings.data_dir is None:
            raise ValueError("the disk engine needs a data_dir")
        self.settings = settings
        self.clock = clock
        self.topics: dict[str, Topic] = {}
        self.topics_by_id: dict[uuid.UUID, Topic] = {}
        self._registry = TopicRegistry(settings.data_dir if settings.engine == "disk" else None)
        self._flush_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rafka-fsync")
        self._background: list[asyncio.Task[None]] = []
        self._closed = False
        self.retention_segments_deleted = 0
        self.cleaner = LogCleanerService(clock)
        # Partition reads that answered with an error, by error class (for metrics).
        self.read_errors: dict[type[Exception], int] = {}
        # Fetches waiting for data right now (rafka.broker.fetch.LongPoll; Kafka's fetch
        # purgatory size).
        self.parked_fetches = 0
        self.cluster_id = ""
        self.producer_ids = ProducerIdAllocator(
            settings.data_dir if settings.engine == "disk" else None
        )

    # ---------------------------------------------------------------- lifecycle

    def open(self) -> None:
        """Load the topic registry and open (recovering if needed) every partition log."""
        started = time.monotonic()
        self.cluster_id = self._load_cluster_id()
        records = self._registry.load()
        for record in records.values():
            config = log_config_for(record.configs, self.settings.log_defaults)
            partitions = [
                self._open_partition(record.name, i, config) for i in range(record.partitions)
            ]
            self._add_topic(Topic(record, partitions, config))
        self._set_aside_stray_dirs()
        logger.info(
            "loaded %d topics, %d partitions in %.2f s",
            len(self.topics),
            sum(len(t.partitions) for t in self.topics.values()),
            time.monotonic() - started,
        )

    def _load_cluster_id(self) -> str:
        """The cluster id lives in `meta.properties`, as in Kafka, so it survives restarts."""
        generated = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if self.settings.engine != "disk":
            return generated
        assert self.settings.data_dir is not None
        path = self.settings.data_dir / "meta.properties"
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                name, _, value = line.partition("=")
                if name.strip() == "cluster.id" and value.strip():
                    return value.strip()
        path.write_text(
            f"version=1\ncluster.id={generated}\nnode.id={self.settings.broker_id}\n",
            encoding="utf-8",
        )
        return generated

    def start_background_tasks(self) -> None:
        """Retention and periodic flush timers; call from within the running event loop."""
        self._background = [
            asyncio.create_task(self._every(self.settings.retention_check_ms, self.run_retention)),
            asyncio.create_task(self._every(self.settings.flush_check_ms, self._flush_due)),
            # Log compaction runs on the retention timer, on the cleaner's own thread.
            asyncio.create_task(self._every(self.settings.retention_check_ms, self.start_cleaning)),
        ]

    async def close(self) -> None:
        """Stop timers, release parked fetches, flush and close every log (marking it clean)."""
        if self._closed:
            return
        self._closed = True
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.cleaner.stop()
        for topic in self.topics.values():
            for partition in topic.partitions:
                partition.wake_all()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._flush_executor, self._close_logs)
        self._flush_executor.shutdown(wait=True)
        await loop.run_in_executor(None, self.cleaner.close)
        logger.info("all logs flushed and closed")

    def _close_logs(self) -> None:
        for topic in self.topics.values():
            for partition in topic.partitions:
                try:
                    partition.log.close()
                except Exception:
                    logger.exception("closing %r failed", partition)

    @property
    def closed(self) -> bool:
        return self._closed

    async def _every(self, interval_ms: int, action: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(interval_ms / 1000)
            try:
                action()
            except Exception:
                logger.exception("background task %s failed", getattr(action, "__name__", action))

    # ---------------------------------------------------------------- topics

    def _partition_dir(self, topic: str, index: int) -> Path | None:
        if self.settings.engine != "disk":
            return None
        assert self.settings.data_dir is not None
        return self.settings.data_dir / partition_dir_name(topic, index)

    def _open_partition(self, topic: str, index: int, config: LogConfig) -> Partition:
        log: PartitionLog = open_log(
            self._partition_dir(topic, index), config, self.settings.engine, clock=self.clock
        )
        return Partition(topic, index, log, self._flush_executor)

    def _set_aside_stray_dirs(self) -> None:
        """Partition dirs no registered topic owns (a crash mid-delete) are renamed, not served."""
        if self.settings.engine != "disk":
            return
        assert self.settings.data_dir is not None
        owned = {
            partition_dir_name(name, i)
            for name, topic in self.topics.items()
            for i in range(len(topic.partitions))
        }
        for path in self.settings.data_dir.iterdir():
            name = path.name
            if not path.is_dir() or name in owned or "." in name.rsplit("-", 1)[-1]:
                continue
            if "-" in name and name.rsplit("-", 1)[1].isdigit():
                stray = path.with_name(f"{name}.{uuid.uuid4().hex}-stray")
                logger.warning("partition dir %s belongs to no topic; renamed to %s", path, stray)
                path.rename(stray)

    def _add_topic(self, topic: Topic) -> None:
        self.topics[topic.name] = topic
        self.topics_by_id[topic.record.topic_id] = topic

    def _save_registry(self) -> None:
        self._registry.save({name: topic.record for name, topic in self.topics.items()})

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerShuttingDownError("the broker is shutting down")

    def create_topic(
        self,
        name: str,
        partitions: int | None = None,
        configs: Mapping[str, str | None] | None = None,
        replication_factor: int = -1,
        validate_only: bool = False,
        internal: bool = False,
    ) -> Topic | None:
        """Create a topic (or only check that it could be). Raises BrokerError subclasses."""
        self._check_open()
        validate_topic_name(name)
        if name in self.topics:
            raise TopicAlreadyExistsError(f"topic {name!r} already exists")
        count = self.settings.default_partitions if partitions in (None, -1) else partitions
        assert count is not None
        if not 1 <= count <= MAX_PARTITIONS_PER_TOPIC:
            raise InvalidPartitionsError(
                f"partition count must be between 1 and {MAX_PARTITIONS_PER_TOPIC}, got {count}"
            )
        if replication_factor not in (-1, 1):
            raise InvalidReplicationFactorError(
                f"replication factor {replication_factor} is larger than the 1 available broker"
            )
        overrides = validate_topic_configs(configs or {})
        if validate_only:
            return None
        namespace = self.settings.topic_id_namespace
        topic_id = uuid.uuid5(namespace, name) if namespace is not None else uuid.uuid4()
        record = TopicRecord(name, topic_id, count, overrides, internal)
        config = log_config_for(overrides, self.settings.log_defaults)
        topic = Topic(record, [self._open_partition(name, i, config) for i in range(count)], config)
        self._add_topic(topic)
        self._save_registry()
        logger.info("created topic %s with %d partitions %s", name, count, overrides or "")
        return topic

    def delete_topic(self, name: str) -> None:
        """Forget the topic durably first, then remove its files: a crash in between leaves
        stray dirs that the next start sets aside, never a half-deleted topic that is served."""
        self._check_open()
        topic = self.topics.pop(name, None)
        if topic is None:
            raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
        self.topics_by_id.pop(topic.record.topic_id, None)
        self._save_registry()
        for partition in topic.partitions:
            partition.wake_all()
            partition.log.delete()
            directory = self._partition_dir(name, partition.index)
            if directory is not None and directory.exists():
                shutil.rmtree(directory, ignore_errors=True)
        logger.info("deleted topic %s", name)

    def create_partitions(self, name: str, total: int, validate_only: bool = False) -> None:
        self._check_open()
        topic = self.get_topic(name)
        current = len(topic.partitions)
        if total <= current:
            raise InvalidPartitionsError(
                f"topic {name!r} has {current} partitions; the new count {total} must be larger"
            )
        if total > MAX_PARTITIONS_PER_TOPIC:
            raise InvalidPartitionsError(
                f"partition count must be at most {MAX_PARTITIONS_PER_TOPIC}, got {total}"
            )
        if validate_only:
            return
        for index in range(current, total):
            topic.partitions.append(self._open_partition(name, index, topic.log_config))
        topic.record.partitions = total
        self._save_registry()
        logger.info("topic %s now has %d partitions", name, total)

    def set_topic_configs(
        self, name: str, overrides: Mapping[str, str | None], validate_only: bool = False
    ) -> None:
        """Replace the topic's explicit configs (AlterConfigs semantics; the caller merges for
        IncrementalAlterConfigs). None values are dropped, falling back to the default."""
        self._check_open()
        topic = self.get_topic(name)
        normalised = validate_topic_configs(overrides)
        if validate_only:
            return
        topic.record.configs = normalised
        topic.log_config = log_config_for(normalised, self.settings.log_defaults)
        for partition in topic.partitions:
            partition.log.update_config(topic.log_config)
        self._save_registry()
        logger.info("topic %s configs now %s", name, normalised)

    def get_topic(self, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
        return topic

    def get_partition(self, topic: str, index: int) -> Partition:
        found = self.topics.get(topic)
        if found is None:
            raise UnknownTopicOrPartitionError(f"topic {topic!r} does not exist")
        if not 0 <= index < len(found.partitions):
            raise UnknownTopicOrPartitionError(
                f"topic {topic!r} has no partition {index} (it has {len(found.partitions)})"
            )
        return found.partitions[index]

    def get_or_create_topic(self, name: str) -> Topic:
        """For auto topic creation: the topic, created with defaults if allowed."""
        topic = self.topics.get(name)
        if topic is not None:
            return topic
        if not self.settings.auto_create_topics:
            raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
        created = self.create_topic(name)
        assert created is not None
        return created

    # ---------------------------------------------------------------- maintenance

    def run_retention(self) -> int:
        now = self.clock()
        deleted = 0
        for topic in self.topics.values():
            for partition in topic.partitions:
                deleted += partition.log.apply_retention(now)
        self.retention_segments_deleted += deleted
        return deleted

    def start_cleaning(self) -> bool:
        """Start a log cleaner pass over the compacted partitions in the background."""
        return self.cleaner.trigger(
            [p.log for t in self.topics.values() if t.log_config.compacts for p in t.partitions]
        )

    def _flush_due(self) -> None:
        now = self.clock()
        for topic in self.topics.values():
            for partition in topic.partitions:
                if partition.log.needs_flush(now):
                    partition.flush_in_background()
