"""Rafka's Python client library for the gRPC API.

- `Producer`: async, batches for you (linger / batch size), per-message futures with the
  stored offset, retries on UNAVAILABLE, routes keys to their owner in multi-broker mode;
- `Consumer`: async iterator over a topic, stored messages first then live ones, commits
  offsets under its consumer id (after each batch, on an interval, or manually), resumes
  from them after a restart, reconnects when a broker restarts;
- `Admin`: topics, metadata and metrics;
- `SyncProducer` / `SyncConsumer`: the same for scripts without asyncio.
"""

from rafka.client.admin import Admin
from rafka.client.consumer import Consumer
from rafka.client.errors import ClientClosedError, RafkaError
from rafka.client.producer import Producer
from rafka.client.sync import SyncConsumer, SyncProducer
from rafka.client.types import Delivery, Message

__all__ = [
    "Admin",
    "ClientClosedError",
    "Consumer",
    "Delivery",
    "Message",
    "Producer",
    "RafkaError",
    "SyncConsumer",
    "SyncProducer",
]
