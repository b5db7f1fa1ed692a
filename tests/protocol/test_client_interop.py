"""Real clients against the codec: a throwaway socket server on 127.0.0.1 that speaks just
ApiVersions and Metadata through `rafka.protocol`, so the header decoding and our responses
are checked on real client bytes (librdkafka via confluent-kafka, kafka-python, aiokafka)."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from kio.static.primitive import i32Timedelta

from rafka.protocol import (
    ApiKey,
    ErrorCode,
    FrameDecoder,
    RequestFrame,
    SupportedApis,
    build_api_versions_response,
    decode_request,
    encode_api_versions_fallback,
    encode_response,
    response_class,
)
from rafka.protocol.errors import UnsupportedVersionError
from tests.protocol.protocol_strategies import BROKER_APIS

NODE_ID = 1


def build(cls: type[Any], **candidates: Any) -> Any:
    """`cls(**candidates)` keeping only the fields this version has."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in candidates.items() if k in names})


def metadata_response(version: int, port: int) -> Any:
    cls = response_class(ApiKey.METADATA, version)
    module = importlib.import_module(cls.__module__)
    broker = build(
        module.MetadataResponseBroker, node_id=NODE_ID, host="127.0.0.1", port=port, rack=None
    )
    return build(
        cls,
        throttle_time=i32Timedelta.parse(timedelta(0)),
        brokers=(broker,),
        cluster_id="rafka-interop",
        controller_id=NODE_ID,
        topics=(),
        cluster_authorized_operations=-2147483648,
        error_code=ErrorCode.none,
    )


class TinyBroker:
    """Answers ApiVersions and Metadata on every connection; records decoded requests."""

    def __init__(self, apis: SupportedApis = BROKER_APIS) -> None:
        self.apis = apis
        self.fallbacks = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self.requests: list[RequestFrame] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        decoder = FrameDecoder()
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                decoder.feed(data)
                for frame in decoder.frames():
                    try:
                        conn.sendall(b"".join(self._answer(frame)))
                    except Exception as exc:  # recorded for the test to report
                        self.errors.append(exc)
                        return

    def _answer(self, frame: bytes | memoryview) -> list[bytes | memoryview]:
        try:
            request = decode_request(frame, self.apis)
        except UnsupportedVersionError as exc:
            if exc.api_key == ApiKey.API_VERSIONS:
                self.fallbacks += 1
                return encode_api_versions_fallback(exc.correlation_id, self.apis)
            raise
        self.requests.append(request)
        version = request.api_version
        if request.api_key == ApiKey.API_VERSIONS:
            response = build_api_versions_response(version, self.apis)
        elif request.api_key == ApiKey.METADATA:
            response = metadata_response(version, self.port)
        else:
            raise AssertionError(f"unexpected api key {request.api_key}")
        return encode_response(request.correlation_id, request.api_key, version, response)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._accepter.join(2)
        for thread in self._threads:
            thread.join(2)


@contextmanager
def tiny_broker(apis: SupportedApis = BROKER_APIS) -> Iterator[TinyBroker]:
    broker = TinyBroker(apis)
    try:
        yield broker
    finally:
        broker.close()


def test_confluent_kafka_bootstrap() -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    with tiny_broker() as broker:
        producer = confluent_kafka.Producer(
            {
                "bootstrap.servers": f"127.0.0.1:{broker.port}",
                "client.id": "rafka-interop",
                "socket.timeout.ms": 5000,
                "reconnect.backoff.max.ms": 100,
            }
        )
        metadata = producer.list_topics(timeout=5)
        assert metadata.cluster_id == "rafka-interop"
        assert metadata.controller_id == NODE_ID
        assert [(b.id, b.host, b.port) for b in metadata.brokers.values()] == [
            (NODE_ID, "127.0.0.1", broker.port)
        ]
        del producer
    assert broker.errors == []
    first = broker.requests[0]
    # librdkafka opens with ApiVersions at a flexible version (header v2).
    assert first.api_key == ApiKey.API_VERSIONS and first.api_version >= 3
    assert first.client_id == "rafka-interop"
    assert first.body.client_software_name
    metadata_requests = [r for r in broker.requests if r.api_key == ApiKey.METADATA]
    assert metadata_requests
    assert all(r.skipped_tags == () for r in broker.requests)


@pytest.mark.parametrize("client", ["confluent_kafka", "kafka"])
def test_api_versions_fallback_with_real_clients(client: str) -> None:
    # Pretend to be an old broker that only knows ApiVersions v0-2: clients open with v3/v4,
    # get our v0-format UNSUPPORTED_VERSION answer, and must retry at a version we support.
    module = pytest.importorskip(client)
    old = BROKER_APIS.restrict(ApiKey.API_VERSIONS, 0, 2)
    with tiny_broker(old) as broker:
        address = f"127.0.0.1:{broker.port}"
        if client == "kafka":
            consumer = module.KafkaConsumer(bootstrap_servers=address, request_timeout_ms=5000)
            try:
                assert consumer.topics() == set()
            finally:
                consumer.close()
        else:
            producer = module.Producer({"bootstrap.servers": address})
            assert producer.list_topics(timeout=5).cluster_id == "rafka-interop"
            del producer
    assert broker.errors == []
    assert broker.fallbacks >= 1
    versions = [r.api_version for r in broker.requests if r.api_key == ApiKey.API_VERSIONS]
    assert versions and all(v <= 2 for v in versions)


def test_kafka_python_bootstrap() -> None:
    kafka = pytest.importorskip("kafka")
    with tiny_broker() as broker:
        consumer = kafka.KafkaConsumer(
            bootstrap_servers=f"127.0.0.1:{broker.port}",
            client_id="rafka-kafka-python",
            request_timeout_ms=5000,
        )
        try:
            assert consumer.topics() == set()
        finally:
            consumer.close()
    assert broker.errors == []
    first = broker.requests[0]
    assert (first.api_key, first.api_version) == (ApiKey.API_VERSIONS, 4)
    assert first.client_id == "rafka-kafka-python"
    assert first.body.client_software_name == "kafka-python"
    assert any(r.api_key == ApiKey.METADATA for r in broker.requests)


def test_aiokafka_bootstrap() -> None:
    aiokafka = pytest.importorskip("aiokafka")

    async def list_topics(port: int) -> Any:
        consumer = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=f"127.0.0.1:{port}", client_id="rafka-aiokafka"
        )
        await consumer.start()
        try:
            return await consumer.topics()
        finally:
            await consumer.stop()

    with tiny_broker() as broker:
        assert asyncio.run(list_topics(broker.port)) == set()
    assert broker.errors == []
    # aiokafka still opens with ApiVersions v0 (header v1, no body).
    first = broker.requests[0]
    assert (first.api_key, first.api_version, first.client_id) == (18, 0, "rafka-aiokafka")
    assert any(r.api_key == ApiKey.METADATA for r in broker.requests)
