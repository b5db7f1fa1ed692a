"""PreSerializedResponses: a server stream may yield its responses already serialized."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from rafka.server.grpc.gen import rafka_pb2 as pb
from rafka.server.grpc.preserialized import PreSerializedResponses


async def _stream(request: Any, context: Any) -> Any:
    yield b""


def _details(method: str) -> grpc.HandlerCallDetails:
    class Details(grpc.HandlerCallDetails):
        def __init__(self) -> None:
            self.method = method
            self.invocation_metadata = ()

    return Details()


def test_bytes_pass_through_and_messages_are_serialized() -> None:
    handler = grpc.unary_stream_rpc_method_handler(
        _stream, pb.ConsumeRequest.FromString, pb.ConsumeResponse.SerializeToString
    )

    async def continuation(details: grpc.HandlerCallDetails) -> Any:
        return handler

    interceptor = PreSerializedResponses()
    wrapped = asyncio.run(interceptor.intercept_service(continuation, _details("/m")))
    assert wrapped.unary_stream is _stream
    assert wrapped.request_deserializer == pb.ConsumeRequest.FromString
    message = pb.ConsumeResponse(messages=[pb.Message(topic="t", offset=7, payload=b"v")])
    wire = message.SerializeToString()
    assert wrapped.response_serializer(wire) is wire
    assert wrapped.response_serializer(message) == wire
    # The same wrapped handler is reused for the same method.
    again = asyncio.run(interceptor.intercept_service(continuation, _details("/m")))
    assert again is wrapped


def test_unary_methods_are_left_alone() -> None:
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: None)

    async def continuation(details: grpc.HandlerCallDetails) -> Any:
        return handler

    wrapped = asyncio.run(PreSerializedResponses().intercept_service(continuation, _details("/u")))
    assert wrapped is handler
