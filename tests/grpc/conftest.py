"""Fixtures for the gRPC tests: a broker shared by a module, and a stub for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rafka.server.grpc.gen import rafka_pb2_grpc
from tests.grpc.helpers import start_broker, stub
from tests.support.broker_process import BrokerProcess


@pytest.fixture(scope="module")
def grpc_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = start_broker(tmp_path_factory.mktemp("grpc") / "data")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def api(grpc_broker: BrokerProcess) -> rafka_pb2_grpc.BrokerServiceStub:
    return stub(grpc_broker.grpc_target)
