"""Let a servicer hand gRPC a response it has already serialized.

The Consume stream writes its `ConsumeResponse` wire bytes by hand, straight from the stored
record batches (`rafka/server/grpc/wire.py`). Giving grpc a message object would mean parsing
those bytes into one only for grpc to serialize it back: two passes over ~1,000 messages per
response, on a stream whose broker is CPU-bound. This interceptor wraps each method's response
serializer so that `bytes` pass through unchanged and anything else is serialized as before;
the bytes on the wire are the same either way (the tests check both decode alike).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from rafka.server.grpc.wrapping import WrappingInterceptor

if TYPE_CHECKING:
    from rafka.server.grpc.wrapping import Handler

__all__ = ["PreSerializedResponses"]


class PreSerializedResponses(WrappingInterceptor):
    """For server-streaming methods: a yielded `bytes` is the serialized response itself."""

    def wrap(self, method: str, handler: Handler) -> Handler:
        if handler.unary_stream is None:
            return handler
        serialize = handler.response_serializer

        def serializer(response: Any) -> bytes:
            if type(response) is bytes:
                return response
            return serialize(response) if serialize is not None else response

        return grpc.unary_stream_rpc_method_handler(
            handler.unary_stream, handler.request_deserializer, serializer
        )
