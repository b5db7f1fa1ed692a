"""The JSON API under `/api/v1/`: what the console shows, for scripts as well.

Every answer is built from `rafka.observability.figures`, so the API, the console, the
Prometheus scrape and `rafka metrics` agree. Read endpoints:

- `GET /api/v1/overview`                   broker, totals, counters for rates, listeners
- `GET /api/v1/topics`                     every topic with its totals
- `GET /api/v1/topics/{topic}`             partitions (offsets, size, segments), configs
- `GET /api/v1/topics/{topic}/messages`    the last messages (`partition`, `limit` 1-500)
- `GET /api/v1/groups`                     every consumer group with its state and total lag
- `GET /api/v1/groups/{group}`             members, assignments, committed offsets, lag

Writes (only with `console.allow_writes`; JSON bodies only):
- `POST /api/v1/topics` `{"name", "partitions"?, "configs"?}` -> 201
- `DELETE /api/v1/topics/{topic}` -> 200
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from rafka import __version__
from rafka.broker import Broker, Topic
from rafka.broker.errors import (
    BrokerError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from rafka.observability.collector import RafkaCollector
from rafka.observability.figures import (
    GroupFigures,
    OldestTimestamps,
    TopicFigures,
    group_figures,
    group_ids,
    topic_figures,
)
from rafka.observability.sources import Observed
from rafka.server.http.messages import MAX_LIMIT, last_messages

OBSERVED = web.AppKey("observed", Observed)
COLLECTOR = web.AppKey("collector", RafkaCollector)
PREFIX = "/api/v1"


class ApiError(Exception):
    """Answered as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(f"{PREFIX}/overview", overview)
    router.add_get(f"{PREFIX}/topics", list_topics)
    router.add_post(f"{PREFIX}/topics", create_topic)
    router.add_get(f"{PREFIX}/topics/{{topic}}", describe_topic)
    router.add_delete(f"{PREFIX}/topics/{{topic}}", delete_topic)
    router.add_get(f"{PREFIX}/topics/{{topic}}/messages", topic_messages)
    router.add_get(f"{PREFIX}/groups", list_groups)
    router.add_get(f"{PREFIX}/groups/{{group}}", describe_group)


def _observed(request: web.Request) -> Observed:
    return request.app[OBSERVED]


def _oldest(request: web.Request) -> OldestTimestamps:
    """The collector's cache of oldest-message timestamps, with a fresh read budget."""
    oldest = request.app[COLLECTOR].oldest
    oldest.start_pass()
    return oldest


def _topic_json(topic: TopicFigures, with_partitions: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": topic.name,
        "topic_id": topic.topic_id,
        "internal": topic.internal,
        "partition_count": len(topic.partitions),
        "messages": topic.messages,
        "size_bytes": topic.size_bytes,
        "messages_in_total": topic.total("messages_in"),
        "messages_out_total": topic.total("messages_out"),
        "bytes_in_total": topic.total("bytes_in"),
        "bytes_out_total": topic.total("bytes_out"),
        "oldest_timestamp_ms": topic.oldest_timestamp_ms,
    }
    if with_partitions:
        body["partitions"] = [
            {
                "partition": p.partition,
                "log_start_offset": p.log_start_offset,
                "log_end_offset": p.log_end_offset,
                "high_watermark": p.high_watermark,
                "messages": p.messages,
                "size_bytes": p.size_bytes,
                "segments": p.segments,
                "messages_in_total": p.messages_in,
                "messages_out_total": p.messages_out,
                "bytes_in_total": p.bytes_in,
                "bytes_out_total": p.bytes_out,
                "oldest_timestamp_ms": p.oldest_timestamp_ms,
            }
            for p in topic.partitions
        ]
        body["configs"] = {
            name: {"value": value, "overridden": overridden}
            for name, (value, overridden) in sorted(topic.configs.items())
        }
    return body


def _group_json(group: GroupFigures, with_details: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "group_id": group.group_id,
        "state": group.state,
        "protocol_type": group.protocol_type,
        "members": len(group.members),
        "total_lag": group.total_lag,
    }
    if with_details:
        body["protocol"] = group.protocol
        body["generation_id"] = group.generation_id
        body["leader_id"] = group.leader_id
        body["members"] = [
            {
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "client_host": m.client_host,
                "assignment": [{"topic": t, "partition": p} for t, p in m.assignment],
            }
            for m in group.members
        ]
        body["partitions"] = [
            {
                "topic": p.topic,
                "partition": p.partition,
                "committed_offset": p.committed_offset,
                "high_watermark": p.high_watermark,
                "lag": p.lag,
                "member_id": p.member_id,
            }
            for p in group.partitions
        ]
    return body


# ---------------------------------------------------------------- read endpoints


async def overview(request: web.Request) -> web.Response:
    observed = _observed(request)
    broker = observed.broker
    oldest = _oldest(request)
    topics = [topic_figures(broker, t, oldest) for t in broker.topics.values()]
    door = observed.kafka
    kafka = next((e for e in observed.endpoints if e.name == "kafka"), None)
    return web.json_response(
        {
            "broker_id": broker.settings.broker_id,
            "cluster_id": broker.cluster_id,
            "version": __version__,
            "ready": observed.ready,
            "started_at_ms": int(observed.started_at * 1000),
            "now_ms": int(time.time() * 1000),
            "brokers": [
                {
                    "broker_id": broker.settings.broker_id,
                    "host": kafka.host if kafka else None,
                    "port": kafka.port if kafka else None,
                }
            ],
            "listeners": [
                {"name": e.name, "host": e.host, "port": e.port} for e in observed.endpoints
            ],
            "topics": len(topics),
            "partitions": sum(len(t.partitions) for t in topics),
            "messages": sum(t.messages for t in topics),
            "size_bytes": sum(t.size_bytes for t in topics),
            "messages_in_total": sum(t.total("messages_in") for t in topics),
            "messages_out_total": sum(t.total("messages_out") for t in topics),
            "bytes_in_total": sum(t.total("bytes_in") for t in topics),
            "bytes_out_total": sum(t.total("bytes_out") for t in topics),
            "connections_open": door.connections_open if door is not None else 0,
            "connections_total": door.connections_total if door is not None else 0,
            "groups": len(group_ids(observed.groups)),
            "allow_writes": observed.allow_writes,
        }
    )


async def list_topics(request: web.Request) -> web.Response:
    observed = _observed(request)
    oldest = _oldest(request)
    topics = [
        _topic_json(topic_figures(observed.broker, t, oldest), with_partitions=False)
        for _, t in sorted(observed.broker.topics.items())
    ]
    return web.json_response({"topics": topics})


def _topic(broker: Broker, name: str) -> Topic:
    found = broker.topics.get(name)
    if found is None:
        raise ApiError(404, f"topic {name!r} does not exist")
    return found


async def describe_topic(request: web.Request) -> web.Response:
    observed = _observed(request)
    topic = _topic(observed.broker, request.match_info["topic"])
    figures = topic_figures(
        observed.broker, topic, _oldest(request), with_configs=True
    )
    return web.json_response(_topic_json(figures, with_partitions=True))


def _int_param(request: web.Request, name: str, default: int | None) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ApiError(400, f"parameter {name!r} must be an integer, got {text!r}") from None


async def topic_messages(request: web.Request) -> web.Response:
    observed = _observed(request)
    topic = _topic(observed.broker, request.match_info["topic"])
    unknown = set(request.query) - {"partition", "limit"}
    if unknown:
        raise ApiError(400, f"unknown parameter(s): {', '.join(sorted(unknown))}")
    limit = _int_param(request, "limit", 20)
    assert limit is not None
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"parameter 'limit' must be between 1 and {MAX_LIMIT}, got {limit}")
    partition = _int_param(request, "partition", None)
    if partition is not None and not 0 <= partition < len(topic.partitions):
        raise ApiError(
            400,
            f"topic {topic.name!r} has no partition {partition} "
            f"(it has {len(topic.partitions)})",
        )
    chosen = topic.partitions if partition is None else [topic.partitions[partition]]
    messages = last_messages(chosen, limit)
    return web.json_response({"topic": topic.name, "limit": limit, "messages": messages})


async def list_groups(request: web.Request) -> web.Response:
    observed = _observed(request)
    groups = observed.groups
    listed = []
    if groups is not None:
        for group_id in group_ids(groups):
            figures = group_figures(observed.broker, groups, group_id)
            if figures is not None:
                listed.append(_group_json(figures, with_details=False))
    return web.json_response({"groups": listed})


async def describe_group(request: web.Request) -> web.Response:
    observed = _observed(request)
    group_id = request.match_info["group"]
    figures = (
        group_figures(observed.broker, observed.groups, group_id)
        if observed.groups is not None
        else None
    )
    if figures is None:
        raise ApiError(404, f"consumer group {group_id!r} does not exist")
    return web.json_response(_group_json(figures, with_details=True))


# ---------------------------------------------------------------- writes


def _check_writes(request: web.Request) -> None:
    if not _observed(request).allow_writes:
        raise ApiError(403, "the console is read-only; set console.allow_writes to allow this")


async def create_topic(request: web.Request) -> web.Response:
    _check_writes(request)
    if request.content_type != "application/json":
        raise ApiError(415, "send the topic as JSON (Content-Type: application/json)")
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = set(body) - {"name", "partitions", "configs"}
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(sorted(unknown))}")
    name, partitions, configs = body.get("name"), body.get("partitions"), body.get("configs", {})
    if not isinstance(name, str) or not name:
        raise ApiError(400, "'name' must be a non-empty string")
    if partitions is not None and (not isinstance(partitions, int) or isinstance(partitions, bool)):
        raise ApiError(400, "'partitions' must be an integer")
    if not isinstance(configs, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in configs.items()
    ):
        raise ApiError(400, "'configs' must map config names to string values")
    broker = _observed(request).broker
    try:
        broker.create_topic(name, partitions, configs)
    except TopicAlreadyExistsError as exc:
        raise ApiError(409, str(exc)) from None
    except BrokerError as exc:
        raise ApiError(400, str(exc)) from None
    figures = topic_figures(broker, broker.topics[name], _oldest(request), True)
    return web.json_response(_topic_json(figures, with_partitions=True), status=201)


async def delete_topic(request: web.Request) -> web.Response:
    _check_writes(request)
    broker = _observed(request).broker
    name = request.match_info["topic"]
    topic = _topic(broker, name)
    if topic.record.internal:
        raise ApiError(400, f"topic {name!r} is internal and cannot be deleted")
    try:
        broker.delete_topic(name)
    except UnknownTopicOrPartitionError as exc:
        raise ApiError(404, str(exc)) from None
    except BrokerError as exc:
        raise ApiError(400, str(exc)) from None
    return web.json_response({"deleted": name})
