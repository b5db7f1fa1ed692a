"""Every error the gRPC door promises, as a status code with a message naming the problem."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.gen import rafka_pb2_grpc
from tests.grpc.helpers import collect, new_topic, publish, start_broker, stub
from tests.support.broker_process import BrokerProcess, free_port

Api = rafka_pb2_grpc.BrokerServiceStub


def refused(call: object, *args: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        result = call(*args, timeout=10)  # type: ignore[operator]
        if hasattr(result, "__iter__"):
            list(result)
    return error.value


@pytest.fixture(scope="module")
def strict_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """No auto-creation, and a small max.message.bytes."""
    process = start_broker(
        tmp_path_factory.mktemp("strict") / "data",
        "--set",
        "broker.auto_create_topics=false",
        "--set",
        "storage.max_message_bytes=2048",
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def strict(strict_broker: BrokerProcess) -> Api:
    return stub(strict_broker.grpc_target)


def test_invalid_arguments(api: Api) -> None:
    cases = [
        (api.Publish, pb.PublishRequest(topic="bad topic!", payload=b"x"), "characters"),
        (api.Publish, pb.PublishRequest(topic="", payload=b"x"), "empty topic"),
        (api.Publish, pb.PublishRequest(topic="a" * 250, payload=b"x"), "250 characters"),
        (api.PublishBatch, pb.PublishBatchRequest(), "no messages"),
        (api.Publish, pb.PublishRequest(topic=new_topic(), partition=3), "no partition 3"),
        (
            api.Acknowledge,
            pb.AcknowledgeRequest(consumer_id="c", message_id="nonsense"),
            "not <topic>/<partition>/<offset>",
        ),
        (api.Consume, pb.ConsumeRequest(topic=new_topic(), max_batch=-1), "max_batch"),
        (api.Consume, pb.ConsumeRequest(consumer_id="nobody"), "no topic"),
        (api.UpdateOffset, pb.UpdateOffsetRequest(topic="t", offset=1), "consumer_id is empty"),
        (api.CreateTopic, pb.CreateTopicRequest(name="x.y", partitions=-2), ">= 1"),
        (
            api.Publish,
            pb.PublishRequest(topic="__consumer_offsets", payload=b"x"),
            "internal",
        ),
    ]
    for call, request, words in cases:
        error = refused(call, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (request, error.details())
        assert words in error.details(), error.details()


def test_payload_over_max_message_bytes(strict: Api) -> None:
    topic = new_topic()
    strict.CreateTopic(pb.CreateTopicRequest(name=topic), timeout=10)
    error = refused(strict.Publish, pb.PublishRequest(topic=topic, payload=b"x" * 5000))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max.message.bytes=2048" in error.details()
    # Many small messages over the limit together are split into several batches, not refused.
    results = publish(strict, topic, [b"y" * 100] * 100)
    assert [r.offset for r in results] == list(range(100))
    got = collect(strict, pb.ConsumeRequest(topic=topic, start=pb.START_POSITION_EARLIEST), 100)
    assert [m.offset for m in got] == list(range(100))


def test_not_found_without_auto_create(strict: Api) -> None:
    unknown = new_topic()
    for call, request in [
        (strict.Publish, pb.PublishRequest(topic=unknown, payload=b"x")),
        (strict.Consume, pb.ConsumeRequest(topic=unknown)),
        (strict.Subscribe, pb.SubscribeRequest(consumer_id="c", topic=unknown)),
        (strict.DescribeTopic, pb.DescribeTopicRequest(name=unknown)),
        (strict.DeleteTopic, pb.DeleteTopicRequest(name=unknown)),
        (strict.UpdateOffset, pb.UpdateOffsetRequest(consumer_id="c", topic=unknown)),
    ]:
        error = refused(call, request)
        assert error.code() == grpc.StatusCode.NOT_FOUND, (request, error.details())
        assert unknown in error.details()


def test_failed_precondition_names_the_owner(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    process = start_broker(
        tmp_path / "b0",
        "--partition", "0", "--total-partitions", "2", "--peers", peers,
        grpc_port=ports[0],
    )  # fmt: skip
    try:
        api = stub(process.grpc_target)
        topic = new_topic()
        ok = api.Publish(pb.PublishRequest(topic=topic, payload=b"x", partition=0), timeout=10)
        assert ok.partition == 0
        for call, request in [
            (api.Publish, pb.PublishRequest(topic=topic, payload=b"x", partition=1)),
            (api.Consume, pb.ConsumeRequest(topic=topic, partitions=[1])),
            (api.UpdateOffset, pb.UpdateOffsetRequest(consumer_id="c", topic=topic, partition=1)),
        ]:
            error = refused(call, request)
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert f"owned by broker 1 at 127.0.0.1:{ports[1]}" in error.details()
        # A key hashing to partition 1 is refused too; one hashing to 0 is stored here.
        from rafka.partitioner import partition_for_key

        keys = [f"k{i}".encode() for i in range(20)]
        mine = next(k for k in keys if partition_for_key(k, 2) == 0)
        theirs = next(k for k in keys if partition_for_key(k, 2) == 1)
        assert api.Publish(pb.PublishRequest(topic=topic, key=mine), timeout=10).partition == 0
        error = refused(api.Publish, pb.PublishRequest(topic=topic, key=theirs))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        error = refused(api.CreateTopic, pb.CreateTopicRequest(name=new_topic(), partitions=5))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        metadata = api.GetMetadata(pb.GetMetadataRequest(topics=[topic]), timeout=10)
        assert metadata.total_partitions == 2
        assert [(b.broker_id, b.port, list(b.partitions)) for b in metadata.brokers] == [
            (0, ports[0], [0]),
            (1, ports[1], [1]),
        ]
        assert metadata.topics[0].partitions == 2
    finally:
        process.stop()


def test_unavailable_while_shutting_down(tmp_path: Path) -> None:
    process = start_broker(tmp_path / "data")
    api = stub(process.grpc_target)
    topic = new_topic()
    publish(api, topic, [b"x"])
    call = api.Consume(pb.ConsumeRequest(topic=topic, start=pb.START_POSITION_EARLIEST))
    next(iter(call))
    stopper = threading.Thread(target=process.stop)
    stopper.start()
    try:
        with pytest.raises(grpc.RpcError) as error:
            for _ in call:
                pass
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in (error.value.details() or "")
    finally:
        stopper.join()
    assert process.proc is not None and process.proc.returncode == 0
    time.sleep(0.1)
    error = refused(api.Publish, pb.PublishRequest(topic=topic, payload=b"x"))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
