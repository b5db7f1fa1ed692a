"""Helpers for the gRPC tests: brokers with their gRPC port, synchronous stubs, and reading
streams with a deadline."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc

from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.gen import rafka_pb2_grpc
from tests.support.broker_process import BrokerProcess, free_port

# Every test broker gets its own HTTP port too, so several can run at once.
EXTRA_ARGS = ("--http-port", "0")


def start_broker(data_dir: Path, *args: str, **kwargs: object) -> BrokerProcess:
    return BrokerProcess(data_dir, *EXTRA_ARGS, *args, **kwargs).start()  # type: ignore[arg-type]


def new_topic(prefix: str = "g") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def stub(target: str) -> rafka_pb2_grpc.BrokerServiceStub:
    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", -1)])
    return rafka_pb2_grpc.BrokerServiceStub(channel)


def collect(
    stub: rafka_pb2_grpc.BrokerServiceStub,
    request: pb.ConsumeRequest,
    count: int,
    timeout: float = 10.0,
) -> list[pb.Message]:
    """The first `count` messages of a Consume stream (fails if they do not come in time)."""
    messages: list[pb.Message] = []
    call = stub.Consume(request, timeout=timeout)
    try:
        for response in call:
            messages.extend(response.messages)
            if len(messages) >= count:
                break
    finally:
        call.cancel()
    assert len(messages) >= count, f"got {len(messages)} of {count} messages"
    return messages[:count]


def collect_until_quiet(
    stub: rafka_pb2_grpc.BrokerServiceStub, request: pb.ConsumeRequest, quiet: float = 1.0
) -> list[pb.Message]:
    """Everything a stream sends until it stays quiet for `quiet` seconds."""
    messages: list[pb.Message] = []
    call = stub.Consume(request, timeout=quiet)
    try:
        for response in call:
            messages.extend(response.messages)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
    return messages


def publish(
    stub: rafka_pb2_grpc.BrokerServiceStub, topic: str, payloads: list[bytes], **fields: object
) -> list[pb.PublishResponse]:
    request = pb.PublishBatchRequest(
        messages=[pb.PublishRequest(topic=topic, payload=p, **fields) for p in payloads]  # type: ignore[arg-type]
    )
    return list(stub.PublishBatch(request, timeout=10).results)


def free_ports(count: int) -> list[int]:
    return [free_port() for _ in range(count)]


def consecutive_free_ports(count: int) -> int:
    """A base port with `count` free ports from it on (for the demos' BASE_PORT)."""
    import random
    import socket

    for _ in range(200):
        base = random.randint(20_000, 40_000)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no consecutive free ports")


def messages_of(responses: Iterator[pb.ConsumeResponse]) -> Iterator[pb.Message]:
    for response in responses:
        yield from response.messages
