"""Errors by error code, per door: every code a Kafka Fetch response carries (its pre-encoded
top level and partitions included) counts under the Kafka families, and gRPC failures count
under the gRPC families with their status names, never under Kafka's."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import grpc
import pytest
from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12 import request as fetch12
from kio.schema.fetch.v13 import request as fetch13

from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.gen import rafka_pb2_grpc
from tests.http.conftest import create_topic, produce, unique
from tests.http.scrape import Scrape, scrape
from tests.support.broker_process import BrokerProcess
from tests.support.raw_kafka import RawKafka

FETCH = 1
KAFKA_ERRORS = "rafka_kafka_request_errors_total"
GRPC_ERRORS = "rafka_grpc_request_errors_total"
GRPC_REQUESTS = "rafka_grpc_requests_total"


def _fetch12(
    topic: str, session_id: int, epoch: int, offset: int = 0
) -> fetch12.FetchRequest:
    return fetch12.FetchRequest(
        cluster_id=None, replica_id=-1, max_wait=timedelta(0), min_bytes=1,
        max_bytes=1_000_000, isolation_level=0, session_id=session_id, session_epoch=epoch,
        topics=(fetch12.FetchTopic(topic=topic, partitions=(fetch12.FetchPartition(
            partition=0, current_leader_epoch=-1, fetch_offset=offset, last_fetched_epoch=-1,
            log_start_offset=-1, partition_max_bytes=1_000_000),)),),
        forgotten_topics_data=(), rack_id="",
    )


def _fetch13_by_id(topic_id: uuid.UUID, partitions: int) -> fetch13.FetchRequest:
    return fetch13.FetchRequest(
        cluster_id=None, replica_id=-1, max_wait=timedelta(0), min_bytes=1,
        max_bytes=1_000_000, isolation_level=0, session_id=0, session_epoch=-1,
        topics=(fetch13.FetchTopic(topic_id=topic_id, partitions=tuple(
            fetch13.FetchPartition(
                partition=p, current_leader_epoch=-1, fetch_offset=0, last_fetched_epoch=-1,
                log_start_offset=-1, partition_max_bytes=1_000_000)
            for p in range(partitions)
        )),),
        forgotten_topics_data=(), rack_id="",
    )


def _delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.get(name, **labels) - before.get(name, **labels)


def test_fetch_session_and_topic_id_errors_are_counted(http_broker: BrokerProcess) -> None:
    topic = unique("sessions")
    create_topic(http_broker.bootstrap, topic)
    produce(http_broker.bootstrap, topic, [(0, None, b"v", [])])
    before = scrape(http_broker.http_url)
    with RawKafka(http_broker.bootstrap) as raw:
        # An incremental fetch in a session the broker never handed out.
        reply = raw.call(FETCH, 12, _fetch12(topic, session_id=987_654, epoch=1))
        assert reply.error_code == ErrorCode.fetch_session_id_not_found
        # A real session (epoch 0 opens one), then a request with the wrong epoch, twice.
        opened = raw.call(FETCH, 12, _fetch12(topic, session_id=0, epoch=0))
        assert opened.error_code == ErrorCode.none and opened.session_id != 0
        for _ in range(2):
            reply = raw.call(FETCH, 12, _fetch12(topic, opened.session_id, epoch=7))
            assert reply.error_code == ErrorCode.invalid_fetch_session_epoch
        # The right epoch, but past the log end: a partition error inside the session.
        reply = raw.call(FETCH, 12, _fetch12(topic, opened.session_id, epoch=1, offset=99))
        assert reply.error_code == ErrorCode.none
        assert reply.responses[0].partitions[0].error_code == ErrorCode.offset_out_of_range
        # v13 names topics by id: three partitions of a topic id nobody has.
        reply = raw.call(FETCH, 13, _fetch13_by_id(uuid.uuid4(), partitions=3))
        codes = [p.error_code for t in reply.responses for p in t.partitions]
        assert codes == [ErrorCode.unknown_topic_id] * 3
    after = scrape(http_broker.http_url)

    def delta(error: str) -> float:
        return _delta(before, after, KAFKA_ERRORS, api="Fetch", error=error)

    assert delta("fetch_session_id_not_found") == 1
    assert delta("invalid_fetch_session_epoch") == 2
    assert delta("unknown_topic_id") == 3
    # Counted once, from the response (not a second time where the read failed).
    assert delta("offset_out_of_range") == 1
    assert _delta(before, after, "rafka_kafka_requests_total", api="Fetch") == 6
    # Nothing of it leaks into the gRPC families.
    assert after.all(GRPC_ERRORS) == before.all(GRPC_ERRORS)


def _grpc_stub(broker: BrokerProcess) -> tuple[grpc.Channel, rafka_pb2_grpc.BrokerServiceStub]:
    channel = grpc.insecure_channel(broker.grpc_target)
    return channel, rafka_pb2_grpc.BrokerServiceStub(channel)


def _scrape_until(broker: BrokerProcess, name: str, value: float) -> Scrape:
    """Scrape until gauge `name` reads `value` (a stream's end reaches the server a moment
    after the client cancels it)."""
    deadline = time.monotonic() + 10
    while True:
        found = scrape(broker.http_url)
        if found.get(name) == value or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_grpc_errors_have_their_own_families(http_broker: BrokerProcess) -> None:
    topic = unique("grpc")
    channel, api = _grpc_stub(http_broker)
    before = scrape(http_broker.http_url)
    with channel:
        api.Publish(pb.PublishRequest(topic=topic, payload=b"one"), timeout=10)
        api.Publish(pb.PublishRequest(topic=topic, payload=b"two"), timeout=10)
        with pytest.raises(grpc.RpcError) as bad_partition:
            api.Publish(pb.PublishRequest(topic=topic, payload=b"x", partition=7), timeout=10)
        assert bad_partition.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as unknown:
            api.DescribeTopic(pb.DescribeTopicRequest(name=unique("absent")), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as bad_batch:
            list(api.Consume(pb.ConsumeRequest(topic=topic, max_batch=10**6), timeout=10))
        assert bad_batch.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        stream = api.Consume(
            pb.ConsumeRequest(topic=topic, start=pb.START_POSITION_EARLIEST), timeout=30
        )
        first = next(stream)
        assert first.messages[0].payload == b"one"
        during = scrape(http_broker.http_url)
        assert during.value("rafka_grpc_streams_open") == before.value(
            "rafka_grpc_streams_open"
        ) + 1
        stream.cancel()  # how a consumer stops: not an error of the broker
        after = _scrape_until(
            http_broker, "rafka_grpc_streams_open", before.value("rafka_grpc_streams_open")
        )
    assert after.value("rafka_grpc_streams_open") == before.value("rafka_grpc_streams_open")

    def requests(method: str) -> float:
        return _delta(before, after, GRPC_REQUESTS, api=method)

    def errors(method: str, error: str) -> float:
        return _delta(before, after, GRPC_ERRORS, api=method, error=error)

    assert requests("Publish") == 3
    assert errors("Publish", "invalid_argument") == 1
    assert requests("DescribeTopic") == 1
    assert errors("DescribeTopic", "not_found") == 1
    assert requests("Consume") == 2
    assert errors("Consume", "invalid_argument") == 1
    assert {labels["error"] for labels, _ in after.all(GRPC_ERRORS, api="Consume")} == {
        "invalid_argument"
    }
    # Unary calls have latency histograms; streams, which last as long as their reader, not.
    assert after.value(
        "rafka_grpc_request_duration_seconds_count", api="Publish"
    ) == after.value(GRPC_REQUESTS, api="Publish")
    assert after.value(
        "rafka_grpc_request_duration_seconds_bucket", api="Publish", le="+Inf"
    ) == after.value(GRPC_REQUESTS, api="Publish")
    assert not after.all("rafka_grpc_request_duration_seconds_count", api="Consume")
    # The Kafka families did not move: gRPC failures are not Kafka errors.
    assert after.all(KAFKA_ERRORS) == before.all(KAFKA_ERRORS)
    assert after.all("rafka_kafka_requests_total") == before.all("rafka_kafka_requests_total")
