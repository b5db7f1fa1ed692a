"""The gRPC front door (`rafka.v1.BrokerService`, proto in `proto/rafka/v1/rafka.proto`).

Module map: `listener` (GrpcListener: the grpc.aio server, health, reflection), `service`
(one method per RPC), `publish` (messages -> one record batch per partition), `consume` (log
-> message stream, flow-controlled), `metrics` (GetMetrics), `convert` (records <-> protobuf,
message ids), `errors` (exceptions -> status codes), `gen` (generated code; never edit).

Nothing is imported here, so the client library can use `gen` without loading the server.
"""
