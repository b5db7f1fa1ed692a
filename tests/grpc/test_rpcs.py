"""Every BrokerService RPC against a real broker process: round trips, start positions,
per-consumer offsets and acknowledgements, metrics, administration, health and reflection."""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from rafka.partitioner import partition_for_key
from rafka.records import iter_batches
from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.gen import rafka_pb2_grpc
from tests.grpc.helpers import collect, collect_until_quiet, new_topic, publish
from tests.support.broker_process import BrokerProcess

Api = rafka_pb2_grpc.BrokerServiceStub
EARLIEST = pb.START_POSITION_EARLIEST


def test_publish_then_consume_round_trip(api: Api) -> None:
    topic = new_topic()
    sent = api.Publish(
        pb.PublishRequest(
            topic=topic,
            key=b"key-1",
            payload=b"Hello",
            headers=[pb.Header(key="h", value=b"v"), pb.Header(key="null")],
        ),
        timeout=10,
    )
    assert (sent.partition, sent.offset, sent.message_id) == (0, 0, f"{topic}/0/0")
    (got,) = collect(api, pb.ConsumeRequest(topic=topic, start=EARLIEST), 1)
    assert (got.key, got.payload, got.offset, got.message_id) == (
        b"key-1",
        b"Hello",
        0,
        sent.message_id,
    )
    assert [(h.key, h.value if h.HasField("value") else None) for h in got.headers] == [
        ("h", b"v"),
        ("null", None),
    ]
    assert got.timestamp_ms == sent.timestamp_ms > 0


def test_null_key_and_payload_stay_null(api: Api) -> None:
    topic = new_topic()
    api.Publish(pb.PublishRequest(topic=topic), timeout=10)
    api.Publish(pb.PublishRequest(topic=topic, key=b"", payload=b""), timeout=10)
    first, second = collect(api, pb.ConsumeRequest(topic=topic, start=EARLIEST), 2)
    assert not first.HasField("key") and not first.HasField("payload")
    assert second.HasField("key") and second.key == b"" and second.payload == b""


def test_batch_is_one_record_batch_per_partition(api: Api, grpc_broker: BrokerProcess) -> None:
    topic = new_topic()
    api.CreateTopic(pb.CreateTopicRequest(name=topic, partitions=3), timeout=10)
    other = new_topic()
    messages = [
        pb.PublishRequest(topic=topic, payload=b"p%d" % i, partition=i % 3) for i in range(300)
    ] + [pb.PublishRequest(topic=other, payload=b"o%d" % i) for i in range(50)]
    results = api.PublishBatch(pb.PublishBatchRequest(messages=messages), timeout=10).results
    assert len(results) == 350
    for i, result in enumerate(results[:300]):
        assert (result.partition, result.offset) == (i % 3, i // 3)
    assert [r.offset for r in results[300:]] == list(range(50))
    for partition in range(3):
        folder = grpc_broker.data_dir / f"{topic}-{partition}"
        data = b"".join(f.read_bytes() for f in sorted(folder.glob("*.log")))
        headers = [h for _, h in iter_batches(data)]
        assert len(headers) == 1 and headers[0].record_count == 100


def test_keyed_messages_go_where_kafkas_partitioner_puts_them(api: Api) -> None:
    topic = new_topic()
    api.CreateTopic(pb.CreateTopicRequest(name=topic, partitions=6), timeout=10)
    keys = [f"user-{i}".encode() for i in range(60)] + [b"abc", b"bca", b"cab"]
    results = api.PublishBatch(
        pb.PublishBatchRequest(messages=[pb.PublishRequest(topic=topic, key=k) for k in keys]),
        timeout=10,
    ).results
    assert [r.partition for r in results] == [partition_for_key(k, 6) for k in keys]
    # Anagrams no longer land together (the original summed the key's bytes).
    assert len({r.partition for r in results[-3:]}) > 1


def test_keyless_messages_of_one_call_share_a_partition_and_calls_rotate(api: Api) -> None:
    topic = new_topic()
    api.CreateTopic(pb.CreateTopicRequest(name=topic, partitions=3), timeout=10)
    chosen = []
    for _ in range(3):
        results = publish(api, topic, [b"a", b"b", b"c"])
        assert len({r.partition for r in results}) == 1
        chosen.append(results[0].partition)
    assert sorted(chosen) == [0, 1, 2]


def test_every_byte_value_survives(api: Api) -> None:
    topic = new_topic()
    everything = bytes(range(256))
    payloads = [everything, everything[::-1], b"\x00" * 10, everything * 40]
    publish(api, topic, payloads, key=everything)
    got = collect(api, pb.ConsumeRequest(topic=topic, start=EARLIEST), len(payloads))
    assert [m.payload for m in got] == payloads
    assert all(m.key == everything for m in got)


def test_consumer_connecting_later_gets_stored_messages(api: Api) -> None:
    topic = new_topic()
    publish(api, topic, [b"m%d" % i for i in range(1000)])
    got = collect(api, pb.ConsumeRequest(consumer_id="late", topic=topic), 1000)
    assert [m.offset for m in got] == list(range(1000))


def test_a_single_message_is_delivered_alone(api: Api) -> None:
    topic = new_topic()
    api.Publish(pb.PublishRequest(topic=topic, payload=b"lonely"), timeout=10)
    got = collect_until_quiet(api, pb.ConsumeRequest(consumer_id="one", topic=topic))
    assert [m.payload for m in got] == [b"lonely"]


def test_stream_follows_live_appends(api: Api) -> None:
    topic = new_topic()
    publish(api, topic, [b"old"])
    call = api.Consume(pb.ConsumeRequest(topic=topic, start=pb.START_POSITION_LATEST), timeout=10)
    try:
        time.sleep(0.5)  # the stream is parked on the partition
        publish(api, topic, [b"new-1", b"new-2"])
        got = []
        for response in call:
            got.extend(m.payload for m in response.messages)
            if len(got) >= 2:
                break
    finally:
        call.cancel()
    assert got == [b"new-1", b"new-2"]


def test_start_at_offset_and_per_partition_offsets(api: Api) -> None:
    topic = new_topic()
    api.CreateTopic(pb.CreateTopicRequest(name=topic, partitions=2), timeout=10)
    for partition in (0, 1):
        publish(api, topic, [b"%d-%d" % (partition, i) for i in range(10)], partition=partition)
    got = collect(
        api,
        pb.ConsumeRequest(
            topic=topic, start=pb.START_POSITION_OFFSET, offset=7, partition_offsets={1: 9}
        ),
        4,
    )
    assert sorted((m.partition, m.offset) for m in got) == [(0, 7), (0, 8), (0, 9), (1, 9)]


def test_update_offset_then_consume_from_committed(api: Api) -> None:
    topic = new_topic()
    publish(api, topic, [b"m%d" % i for i in range(10)])
    api.UpdateOffset(
        pb.UpdateOffsetRequest(consumer_id="resumer", topic=topic, partition=0, offset=6),
        timeout=10,
    )
    got = collect_until_quiet(api, pb.ConsumeRequest(consumer_id="resumer", topic=topic))
    assert [m.offset for m in got] == [6, 7, 8, 9]
    # A consumer id without a commit starts at the beginning.
    got = collect_until_quiet(api, pb.ConsumeRequest(consumer_id="fresh", topic=topic))
    assert len(got) == 10


def test_one_consumers_ack_leaves_another_untouched(api: Api) -> None:
    topic = new_topic()
    publish(api, topic, [b"m%d" % i for i in range(5)])
    other = api.Consume(pb.ConsumeRequest(consumer_id="bob", topic=topic), timeout=10)
    try:
        first = next(iter(other))
        assert [m.offset for m in first.messages] == [0, 1, 2, 3, 4]
        for message in first.messages:
            ack = api.Acknowledge(
                pb.AcknowledgeRequest(consumer_id="alice", message_id=message.message_id),
                timeout=10,
            )
        assert ack.committed_offset == 5
        # An older ack never moves alice back.
        ack = api.Acknowledge(
            pb.AcknowledgeRequest(consumer_id="alice", topic=topic, partition=0, offset=1),
            timeout=10,
        )
        assert ack.committed_offset == 5
        publish(api, topic, [b"m5"])
        second = next(iter(other))
        assert [m.offset for m in second.messages] == [5]
    finally:
        other.cancel()
    # bob never acked: he still starts from the beginning; alice after what she acked.
    bob = collect_until_quiet(api, pb.ConsumeRequest(consumer_id="bob", topic=topic))
    alice = collect_until_quiet(api, pb.ConsumeRequest(consumer_id="alice", topic=topic))
    assert [m.offset for m in bob] == [0, 1, 2, 3, 4, 5]
    assert [m.offset for m in alice] == [5]


def test_register_subscribe_and_consume_subscriptions(api: Api) -> None:
    first, second = new_topic(), new_topic()
    registered = api.Register(
        pb.RegisterRequest(client_id="sub", client_type=pb.CLIENT_TYPE_CONSUMER), timeout=10
    )
    assert registered.success
    for topic in (first, second):
        subscribed = api.Subscribe(pb.SubscribeRequest(consumer_id="sub", topic=topic), timeout=10)
        assert subscribed.success and subscribed.partitions == 1
        publish(api, topic, [topic.encode()])
    got = collect(api, pb.ConsumeRequest(consumer_id="sub"), 2)
    assert sorted(m.payload for m in got) == sorted([first.encode(), second.encode()])


def test_metrics_count_what_is_stored_moved_and_lagging(api: Api) -> None:
    topic = new_topic()
    publish(api, topic, [b"x" * 100] * 20)
    collect(api, pb.ConsumeRequest(topic=topic, start=EARLIEST), 20)
    api.UpdateOffset(
        pb.UpdateOffsetRequest(consumer_id="lagger", topic=topic, partition=0, offset=15),
        timeout=10,
    )
    metrics = api.GetMetrics(pb.GetMetricsRequest(), timeout=10)
    (figures,) = [t for t in metrics.topics if t.topic == topic]
    assert figures.messages == 20 and figures.bytes > 2000
    assert figures.bytes_in == figures.bytes and figures.bytes_out >= figures.bytes
    (partition,) = [p for p in metrics.partitions if p.topic == topic]
    assert (partition.log_start_offset, partition.log_end_offset) == (0, 20)
    (lag,) = [c for c in metrics.consumer_offsets if c.group == "lagger"]
    assert (lag.committed_offset, lag.log_end_offset, lag.lag) == (15, 20, 5)
    assert metrics.total_messages >= 20 and metrics.total_bytes_in >= figures.bytes_in


def test_topic_administration(api: Api) -> None:
    topic = new_topic()
    created = api.CreateTopic(
        pb.CreateTopicRequest(name=topic, partitions=4, configs={"retention.ms": "60000"}),
        timeout=10,
    )
    assert (created.topic.name, created.topic.partitions) == (topic, 4)
    with pytest.raises(grpc.RpcError) as error:
        api.CreateTopic(pb.CreateTopicRequest(name=topic), timeout=10)
    assert error.value.code() == grpc.StatusCode.ALREADY_EXISTS
    listed = api.ListTopics(pb.ListTopicsRequest(), timeout=10).topics
    assert topic in [t.name for t in listed]
    assert "__consumer_offsets" not in [t.name for t in listed]
    internal = api.ListTopics(pb.ListTopicsRequest(include_internal=True), timeout=10).topics
    assert "__consumer_offsets" in [t.name for t in internal]
    described = api.DescribeTopic(pb.DescribeTopicRequest(name=topic), timeout=10)
    assert [p.partition for p in described.partitions] == [0, 1, 2, 3]
    assert described.configs["retention.ms"] == "60000"
    api.DeleteTopic(pb.DeleteTopicRequest(name=topic), timeout=10)
    with pytest.raises(grpc.RpcError) as error:
        api.DescribeTopic(pb.DescribeTopicRequest(name=topic), timeout=10)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    metadata = api.GetMetadata(pb.GetMetadataRequest(), timeout=10)
    assert metadata.total_partitions == 0 and metadata.cluster_id


def test_health_and_reflection(grpc_broker: BrokerProcess) -> None:
    channel = grpc.insecure_channel(grpc_broker.grpc_target)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "rafka.v1.BrokerService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
    )
    services = {s.name for a in answers for s in a.list_services_response.service}
    assert {"rafka.v1.BrokerService", "grpc.health.v1.Health"} <= services


def test_stream_ends_when_its_topic_is_deleted(api: Api) -> None:
    topic = new_topic()
    publish(api, topic, [b"x"])
    call = api.Consume(pb.ConsumeRequest(topic=topic, start=EARLIEST), timeout=15)
    next(iter(call))
    api.DeleteTopic(pb.DeleteTopicRequest(name=topic), timeout=10)
    with pytest.raises(grpc.RpcError) as error:
        for _ in call:
            pass
    assert error.value.code() == grpc.StatusCode.NOT_FOUND

