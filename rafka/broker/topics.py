"""Topic names, topic records, and the durable topic registry (`<data_dir>/topics.json`).

The registry is the source of truth for which topics exist: a partition directory on disk that
no registered topic owns (say, left behind by a crash half-way through a delete) is set aside as
stray rather than served. The file is small and rewritten atomically (write a temporary file,
fsync, rename, fsync the directory), so a crash leaves either the old or the new registry.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rafka.broker.errors import InvalidTopicError

MAX_TOPIC_NAME_LENGTH = 249
_LEGAL_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
REGISTRY_FILE = "topics.json"
REGISTRY_VERSION = 1


def validate_topic_name(name: str) -> None:
    """Kafka's rules (Topic.validate): 1-249 chars of [a-zA-Z0-9._-], and not '.' or '..'."""
    if not name:
        raise InvalidTopicError("topic name is empty")
    if name in (".", ".."):
        raise InvalidTopicError(f"topic name {name!r} is not allowed")
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        raise InvalidTopicError(
            f"topic name is {len(name)} characters long; the limit is {MAX_TOPIC_NAME_LENGTH}"
        )
    if not _LEGAL_TOPIC_NAME.match(name):
        raise InvalidTopicError(
            f"topic name {name!r} has characters other than ASCII letters, digits, '.', '_', '-'"
        )


def partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


@dataclass(slots=True)
class TopicRecord:
    """What the registry remembers about a topic."""

    name: str
    topic_id: uuid.UUID
    partitions: int
    # Only the configs set explicitly for this topic, as Kafka config name -> text value.
    configs: dict[str, str] = field(default_factory=dict)
    internal: bool = False


class TopicRegistry:
    """Loads and atomically saves the set of topics. `directory` None keeps it in memory only."""

    def __init__(self, directory: Path | None) -> None:
        self._path = directory / REGISTRY_FILE if directory is not None else None

    def load(self) -> dict[str, TopicRecord]:
        if self._path is None or not self._path.exists():
            return {}
        document = json.loads(self._path.read_text(encoding="utf-8"))
        if document.get("version") != REGISTRY_VERSION:
            raise RuntimeError(
                f"{self._path}: registry version {document.get('version')!r} is not supported"
            )
        return {
            entry["name"]: TopicRecord(
                name=entry["name"],
                topic_id=uuid.UUID(entry["topic_id"]),
                partitions=int(entry["partitions"]),
                configs=dict(entry.get("configs", {})),
                internal=bool(entry.get("internal", False)),
            )
            for entry in document["topics"]
        }

    def save(self, topics: dict[str, TopicRecord]) -> None:
        if self._path is None:
            return
        document = {
            "version": REGISTRY_VERSION,
            "topics": [
                {
                    "name": record.name,
                    "topic_id": str(record.topic_id),
                    "partitions": record.partitions,
                    "configs": record.configs,
                    "internal": record.internal,
                }
                for record in sorted(topics.values(), key=lambda r: r.name)
            ],
        }
        tmp = self._path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self._path)
        dir_fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
