"""ApiVersions, Metadata and DescribeCluster: how clients discover what this broker offers.

In multi-broker mode (`rafka.broker.cluster`) every broker gives the same answer: all brokers
whose Kafka address it knows (`cluster.kafka_peers`), and as each partition's leader the
broker that owns it. A partition whose owner's Kafka address is unknown is reported
LEADER_NOT_AVAILABLE rather than with a leader clients cannot reach. A topic named in the
request that this broker has not seen is created here (its share; see `ownership.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from rafka.broker import Topic
from rafka.broker.errors import BrokerError
from rafka.broker.topics import validate_topic_name
from rafka.server.kafka.context import NO_THROTTLE, RequestContext
from rafka.server.kafka.errors import error_code_for

if TYPE_CHECKING:
    from rafka.server.kafka.service import KafkaFrontDoor

# Kafka reports "not requested" authorized operations as INT32_MIN.
AUTHORIZED_OPERATIONS_OMITTED = -(2**31)


def handle_api_versions(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    software = getattr(request, "client_software_name", "")
    if software:
        ctx.connection.client_software = f"{software} {request.client_software_version}"
    return ctx.response(
        {
            "error_code": ErrorCode.none,
            "api_keys": [
                {"api_key": key, "min_version": spec.min_version, "max_version": spec.max_version}
                for key, spec in sorted(door.apis.items())
            ],
            "throttle_time": NO_THROTTLE,
        }
    )


def kafka_brokers(door: KafkaFrontDoor) -> dict[int, tuple[str, int]]:
    """Broker id -> Kafka address of every broker this one can name, itself included (with
    the address it advertises, which is authoritative for itself)."""
    known = {b.broker_id: b.kafka for b in door.layout.brokers if b.kafka is not None}
    known[door.node_id] = (door.endpoint.host, door.endpoint.port)
    return dict(sorted(known.items()))


def cluster_id(door: KafkaFrontDoor) -> str:
    return door.layout.cluster_id or door.broker.cluster_id


def _broker_entries(door: KafkaFrontDoor) -> list[dict[str, Any]]:
    return [
        {
            "node_id": node,
            "broker_id": node,
            "host": host,
            "port": port,
            "rack": None,
            "is_fenced": False,
        }
        for node, (host, port) in kafka_brokers(door).items()
    ]


def topic_entry(door: KafkaFrontDoor, topic: Topic) -> dict[str, Any]:
    # Internal topics are each broker's own, even in multi-broker mode.
    by_layout = bool(door.layout.total_partitions) and not topic.record.internal
    reachable = kafka_brokers(door) if by_layout else {}
    partitions = []
    for partition in topic.partitions:
        leader = door.layout.owner_id(partition.index) if by_layout else door.node_id
        known = not by_layout or leader in reachable
        partitions.append(
            {
                "error_code": ErrorCode.none if known else ErrorCode.leader_not_available,
                "partition_index": partition.index,
                "leader_id": leader if known else -1,
                "leader_epoch": partition.leader_epoch,
                "replica_nodes": (leader,),
                "isr_nodes": (leader,) if known else (),
                "offline_replicas": () if known else (leader,),
            }
        )
    return {
        "error_code": ErrorCode.none,
        "name": topic.name,
        "topic_id": topic.record.topic_id,
        "is_internal": topic.record.internal,
        "partitions": partitions,
        "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }


def _error_entry(name: str | None, topic_id: Any, code: ErrorCode) -> dict[str, Any]:
    return {
        "error_code": code,
        "name": name,
        "topic_id": topic_id,
        "is_internal": False,
        "partitions": [],
        "topic_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
    }


def handle_metadata(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    broker = door.broker
    topics: list[dict[str, Any]] = []
    # v0 asks for all topics with an empty list; v1+ with null.
    wants_all = request.topics is None or (ctx.api_version == 0 and not request.topics)
    if wants_all:
        topics = [topic_entry(door, t) for t in broker.topics.values() if not t.record.internal]
    else:
        # v4+ lets the client refuse auto-creation (consumers usually do). Not in multi-broker
        # mode: there another broker may have created the topic and this one cannot ask, so
        # it creates its share of any topic a client names (if auto-creation is on at all);
        # a consumer told "unknown topic" by its coordinator would be assigned nothing.
        may_create = getattr(request, "allow_auto_topic_creation", True) or bool(
            door.layout.total_partitions
        )
        for wanted in request.topics:
            name = wanted.name
            topic_id = getattr(wanted, "topic_id", None)
            if name is None and topic_id is not None:
                found = door.topic_by_id(topic_id)
                topics.append(
                    topic_entry(door, found)
                    if found
                    else _error_entry(None, topic_id, ErrorCode.unknown_topic_id)
                )
                continue
            topics.append(_topic_or_error(door, name, bool(may_create)))
    return ctx.response(
        {
            "throttle_time": NO_THROTTLE,
            "brokers": _broker_entries(door),
            "cluster_id": cluster_id(door),
            "controller_id": door.node_id,
            "topics": topics,
            "cluster_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
            "error_code": ErrorCode.none,
        }
    )


def _topic_or_error(door: KafkaFrontDoor, name: str, may_create: bool) -> dict[str, Any]:
    broker = door.broker
    existing = broker.topics.get(name)
    if existing is not None:
        return topic_entry(door, existing)
    try:
        validate_topic_name(name)
        if not (may_create and broker.settings.auto_create_topics):
            return _error_entry(name, None, ErrorCode.unknown_topic_or_partition)
        return topic_entry(door, broker.get_or_create_topic(name))
    except BrokerError as exc:
        return _error_entry(name, None, error_code_for(exc))


def handle_describe_cluster(door: KafkaFrontDoor, ctx: RequestContext, request: Any) -> Any:
    return ctx.response(
        {
            "throttle_time": NO_THROTTLE,
            "error_code": ErrorCode.none,
            "error_message": None,
            "endpoint_type": getattr(request, "endpoint_type", 1),
            "cluster_id": cluster_id(door),
            "controller_id": door.node_id,
            "brokers": _broker_entries(door),
            "cluster_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED,
        }
    )
