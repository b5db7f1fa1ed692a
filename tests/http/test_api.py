"""The JSON API under /api/v1 on its own: answers match what the test produced and consumed,
bad paths are 404, bad parameters 400 with a JSON error, and writes need console.allow_writes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from tests.http.conftest import FAST_GROUPS, consume_all, create_topic, produce, unique
from tests.http.scrape import get_json, request
from tests.support.broker_process import BrokerProcess


def test_overview_topics_and_topic_detail(http_broker: BrokerProcess) -> None:
    topic = unique("api")
    create_topic(http_broker.bootstrap, topic, partitions=3, configs={"retention.ms": "3600000"})
    produce(http_broker.bootstrap, topic, [(p, None, b"v", []) for p in (0, 0, 2)])

    overview = get_json(http_broker.http_url + "/api/v1/overview")
    assert overview["ready"] is True
    assert overview["allow_writes"] is False
    assert overview["brokers"] == [
        {"broker_id": 0, "host": "127.0.0.1", "port": http_broker.kafka_port}
    ]
    assert {"name": "http", "host": "127.0.0.1", "port": http_broker.http_port} in overview[
        "listeners"
    ]
    assert overview["messages_in_total"] >= 3 and overview["topics"] >= 2

    listed = {t["name"]: t for t in get_json(http_broker.http_url + "/api/v1/topics")["topics"]}
    assert listed[topic]["partition_count"] == 3
    assert listed[topic]["messages"] == 3
    assert listed["__consumer_offsets"]["internal"] is True

    detail = get_json(f"{http_broker.http_url}/api/v1/topics/{topic}")
    ends = [
        (p["partition"], p["log_end_offset"], p["log_start_offset"]) for p in detail["partitions"]
    ]
    assert ends == [(0, 2, 0), (1, 0, 0), (2, 1, 0)]
    assert detail["partitions"][0]["size_bytes"] > 0
    assert detail["partitions"][1]["oldest_timestamp_ms"] is None
    assert detail["configs"]["retention.ms"] == {"value": "3600000", "overridden": True}
    assert detail["configs"]["cleanup.policy"] == {"value": "delete", "overridden": False}


def test_last_messages_with_keys_values_and_headers(http_broker: BrokerProcess) -> None:
    topic = unique("messages")
    create_topic(http_broker.bootstrap, topic, partitions=2)
    messages = [(0, f"k{i}".encode(), f"value {i}".encode(), [("n", str(i).encode())])
                for i in range(10)]
    messages.append((1, None, b"\xff\x00binary", []))
    messages.append((1, b"big", b"x" * 1000, []))
    produce(http_broker.bootstrap, topic, messages)

    url = f"{http_broker.http_url}/api/v1/topics/{topic}/messages"
    items = get_json(url + "?partition=0&limit=3")["messages"]["items"]
    assert [m["offset"] for m in items] == [9, 8, 7]
    assert items[0]["key"] == {"text": "k9", "encoding": "utf-8", "size": 2, "truncated": False}
    assert items[0]["value"]["text"] == "value 9"
    assert items[0]["headers"] == [
        {"key": "n", "value": {"text": "9", "encoding": "utf-8", "size": 1, "truncated": False}}
    ]
    assert items[0]["timestamp_ms"] > 0

    one = get_json(url + "?partition=1")["messages"]["items"]
    assert [m["offset"] for m in one] == [1, 0]
    binary = one[1]
    assert binary["key"]["text"] is None
    assert binary["value"]["encoding"] == "base64"
    assert base64.b64decode(binary["value"]["text"]) == b"\xff\x00binary"
    assert one[0]["value"]["truncated"] is True and one[0]["value"]["size"] == 1000

    everything = get_json(url + "?limit=500")["messages"]["items"]
    assert len(everything) == 12


def test_groups_show_state_members_and_lag(http_broker: BrokerProcess) -> None:
    topic, group = unique("lag"), unique("group")
    create_topic(http_broker.bootstrap, topic, partitions=2)
    produce(http_broker.bootstrap, topic, [(0, None, b"a", [])] * 4 + [(1, None, b"b", [])] * 2)
    assert consume_all(http_broker.bootstrap, topic, group, 6) == 6
    produce(http_broker.bootstrap, topic, [(1, None, b"c", [])] * 5)

    listed = {g["group_id"]: g for g in get_json(http_broker.http_url + "/api/v1/groups")["groups"]}
    assert listed[group]["state"] == "Empty"
    assert listed[group]["total_lag"] == 5
    detail = get_json(f"{http_broker.http_url}/api/v1/groups/{group}")
    lag = {(p["topic"], p["partition"]): (p["committed_offset"], p["lag"])
           for p in detail["partitions"]}
    assert lag == {(topic, 0): (4, 0), (topic, 1): (2, 5)}
    assert detail["members"] == []


def test_a_live_member_and_its_assignment(http_broker: BrokerProcess) -> None:
    topic, group = unique("live"), unique("live-group")
    create_topic(http_broker.bootstrap, topic, partitions=2)
    consumer = Consumer({"bootstrap.servers": http_broker.bootstrap, "group.id": group,
                         "client.id": "console-test", "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0.2)
        assert len(consumer.assignment()) == 2
        detail = get_json(f"{http_broker.http_url}/api/v1/groups/{group}")
        assert detail["state"] == "Stable"
        assert detail["protocol_type"] == "consumer" and detail["protocol"]
        [member] = detail["members"]
        assert member["client_id"] == "console-test"
        assert member["assignment"] == [
            {"topic": topic, "partition": 0}, {"topic": topic, "partition": 1}
        ]
        owners = {p["partition"]: p["member_id"] for p in detail["partitions"]}
        assert owners == {0: member["member_id"], 1: member["member_id"]}
        scrape_text = request(http_broker.http_url + "/metrics").body.decode()
        assert f'rafka_consumer_group_members{{group="{group}"}} 1' in scrape_text
    finally:
        consumer.close()


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/api/v1/nope",
        "/api/v2/overview",
        "/api/v1/topics/no-such-topic",
        "/api/v1/topics/no-such-topic/messages",
        "/api/v1/groups/no-such-group",
        "/static/no-such-file.js",
        "/static/../../config/schema.py",
    ],
)
def test_bad_paths_are_404(http_broker: BrokerProcess, path: str) -> None:
    reply = request(http_broker.http_url + path)
    assert reply.status == 404
    if path.startswith("/api/"):
        assert "error" in reply.json()


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=501", "limit=abc", "partition=x", "partition=5", "partition=-1", "offset=3"],
)
def test_bad_parameters_are_400_with_a_json_error(http_broker: BrokerProcess, query: str) -> None:
    topic = unique("params")
    create_topic(http_broker.bootstrap, topic, partitions=2)
    reply = request(f"{http_broker.http_url}/api/v1/topics/{topic}/messages?{query}")
    assert reply.status == 400
    assert reply.headers["Content-Type"].startswith("application/json")
    assert isinstance(reply.json()["error"], str) and reply.json()["error"]


def test_writes_are_refused_unless_allowed(http_broker: BrokerProcess) -> None:
    body = json.dumps({"name": unique("denied")}).encode()
    reply = request(http_broker.http_url + "/api/v1/topics", "POST", body, "application/json")
    assert reply.status == 403 and "allow_writes" in reply.json()["error"]
    reply = request(http_broker.http_url + "/api/v1/topics/__consumer_offsets", "DELETE")
    assert reply.status == 403
    assert request(http_broker.http_url + "/api/v1/overview", "PUT", b"{}").status == 405


@pytest.fixture
def writable_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    args = (*FAST_GROUPS, "--set", "console.allow_writes=true")
    with BrokerProcess(tmp_path / "data", *args) as process:
        yield process


def test_topics_are_created_and_deleted_when_allowed(writable_broker: BrokerProcess) -> None:
    base = writable_broker.http_url + "/api/v1/topics"
    assert get_json(writable_broker.http_url + "/api/v1/overview")["allow_writes"] is True
    body = json.dumps({"name": "made-by-api", "partitions": 3,
                       "configs": {"retention.ms": "60000"}}).encode()
    reply = request(base, "POST", body, "application/json")
    assert reply.status == 201, reply.body
    assert reply.json()["partition_count"] == 3
    admin = AdminClient({"bootstrap.servers": writable_broker.bootstrap})
    metadata = admin.list_topics(timeout=10)
    assert len(metadata.topics["made-by-api"].partitions) == 3

    assert request(base, "POST", body, "application/json").status == 409
    for bad in (b"not json", b"[]", b'{"name": ""}', b'{"name": "x", "partitions": "3"}',
                b'{"name": "bad name!"}', b'{"name": "x", "configs": {"no.such": "1"}}',
                b'{"name": "x", "extra": 1}'):
        reply = request(base, "POST", bad, "application/json")
        assert reply.status == 400, bad
        assert reply.json()["error"]
    # Only JSON bodies: a cross-site form post cannot create topics.
    form = request(base, "POST", b"name=x", "application/x-www-form-urlencoded")
    assert form.status == 415

    assert request(base + "/__consumer_offsets", "DELETE").status == 400
    reply = request(base + "/made-by-api", "DELETE")
    assert reply.status == 200 and reply.json() == {"deleted": "made-by-api"}
    assert request(base + "/made-by-api", "DELETE").status == 404
    assert "made-by-api" not in admin.list_topics(timeout=10).topics
