"""Code generated from `proto/rafka/v1/rafka.proto` by `python -m rafka.server.grpc.gen.generate`.

Never edit these modules by hand: change the .proto and regenerate (a test fails when they are
stale). `rafka_pb2` holds the messages, `rafka_pb2_grpc` the servicer base class, the stubs and
`add_BrokerServiceServicer_to_server`; the `.pyi` files (mypy-protobuf) type both.
"""
