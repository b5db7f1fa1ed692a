"""Which clients registered and which topics each consumer id subscribed to, kept durably in
`<data_dir>/consumers.json` so a restarted broker still knows them.

The original Rafka kept both in memory and forgot them on restart; here a consumer that
subscribed once can consume without naming a topic after any restart. The file is small and
rewritten whole on each change, atomically (`rafka.log.checkpoint.write_atomically`: a
temporary file, fsync, rename, fsync the directory), so a crash leaves the old or the new
content. Repeating a registration or a subscription writes nothing, so clients that subscribe
each time they start cost no disk write.

Why not `__consumer_offsets`, where the same consumer's offsets live: a group record there is
the Kafka group of the same id (a gRPC consumer id is its group id), which a Kafka consumer
joining that group rewrites, and an empty group without offsets is expired as soon as the
coordinator starts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rafka.log.checkpoint import write_atomically

logger = logging.getLogger("rafka.broker")

CONSUMERS_FILE = "consumers.json"
CONSUMERS_VERSION = 1


class ConsumerRegistry:
    """Registered clients (id -> client type) and subscriptions (consumer id -> topics).

    `directory` None keeps them in memory only (the in-memory storage engine).
    """

    def __init__(self, directory: Path | None) -> None:
        self._path = directory / CONSUMERS_FILE if directory is not None else None
        self._clients: dict[str, int] = {}
        self._subscriptions: dict[str, set[str]] = {}

    def load(self) -> None:
        """Read the file back (blocking; call before serving). No file: nothing registered."""
        if self._path is None or not self._path.exists():
            return
        try:
            document = json.loads(self._path.read_text(encoding="utf-8"))
            if document.get("version") != CONSUMERS_VERSION:
                raise ValueError(f"version {document.get('version')!r} is not supported")
            clients = {str(k): int(v) for k, v in document["clients"].items()}
            subscriptions = {
                str(k): {str(t) for t in topics} for k, topics in document["subscriptions"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Written atomically, so this is damage from outside; guessing would lose data.
            raise RuntimeError(f"{self._path}: cannot read it ({exc})") from exc
        self._clients, self._subscriptions = clients, subscriptions
        logger.info(
            "loaded %d registered clients and %d subscribed consumers from %s",
            len(clients),
            len(subscriptions),
            self._path,
        )

    @property
    def clients(self) -> dict[str, int]:
        return dict(self._clients)

    def register(self, client_id: str, client_type: int) -> None:
        if self._clients.get(client_id) == client_type:
            return
        self._replace({**self._clients, client_id: client_type}, self._subscriptions)

    def subscribe(self, consumer_id: str, topic: str) -> None:
        topics = self._subscriptions.get(consumer_id, set())
        if topic in topics:
            return
        self._replace(self._clients, {**self._subscriptions, consumer_id: topics | {topic}})

    def topics(self, consumer_id: str) -> list[str]:
        """The consumer's subscribed topics, sorted (empty if it never subscribed)."""
        return sorted(self._subscriptions.get(consumer_id, ()))

    def forget_topic(self, topic: str) -> None:
        """A deleted topic leaves every subscription."""
        if any(topic in topics for topics in self._subscriptions.values()):
            self._replace(
                self._clients,
                {consumer: topics - {topic} for consumer, topics in self._subscriptions.items()},
            )

    def _replace(self, clients: dict[str, int], subscriptions: dict[str, set[str]]) -> None:
        """Write the new state, then adopt it: a failed write (OSError) changes nothing."""
        subscriptions = {consumer: topics for consumer, topics in subscriptions.items() if topics}
        if self._path is not None:
            document = {
                "version": CONSUMERS_VERSION,
                "clients": dict(sorted(clients.items())),
                "subscriptions": {
                    consumer: sorted(topics) for consumer, topics in sorted(subscriptions.items())
                },
            }
            write_atomically(self._path, json.dumps(document, indent=2).encode("utf-8"))
        self._clients, self._subscriptions = clients, subscriptions
