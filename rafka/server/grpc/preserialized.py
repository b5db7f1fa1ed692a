"""Let a servicer hand gRPC a response it has already serialized.

The Consume stream writes its `ConsumeResponse` wire bytes by hand, straight from the stored
record batches (`rafka/server/grpc/wire.py`). Giving grpc a message object would mean parsing
those bytes into one only for grpc to serialize it back: two passes over ~1,000 messages per
response, on a stream whose broker is CPU-bound. This interceptor wraps each method's response
serializer so that `bytes` pass through unchanged and anything else is serialized as before;
the bytes on the wire are the same either way (the tests check both decode alike).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    # Generic only in the stubs; at run time the class cannot be subscripted.
    Handler = grpc.RpcMethodHandler[Any, Any]

__all__ = ["PreSerializedResponses"]


class PreSerializedResponses(grpc.aio.ServerInterceptor):
    """For server-streaming methods: a yielded `bytes` is the serialized response itself."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_stream is None:
            return handler
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        serialize = handler.response_serializer

        def serializer(response: Any) -> bytes:
            if type(response) is bytes:
                return response
            return serialize(response) if serialize is not None else response

        wrapped = grpc.unary_stream_rpc_method_handler(
            handler.unary_stream, handler.request_deserializer, serializer
        )
        self._wrapped[method] = (handler, wrapped)
        return wrapped
