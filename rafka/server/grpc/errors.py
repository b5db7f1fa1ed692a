"""How broker, log, batch and group errors read as gRPC status codes.

Every message names the problem as the broker layer worded it. The table, in words:

- INVALID_ARGUMENT: a bad topic name, empty topic, bad partition count or config, a payload
  over max.message.bytes, a malformed message id;
- NOT_FOUND: an unknown topic or partition (auto-create off, or a partition out of range);
- ALREADY_EXISTS: CreateTopic of an existing topic;
- FAILED_PRECONDITION: the partition is owned by another broker (the message names it), or the
  group is an active Kafka consumer group whose members own its offsets;
- OUT_OF_RANGE: an offset outside the log;
- UNAVAILABLE: the broker is shutting down (clients retry elsewhere or later).
"""

from __future__ import annotations

import grpc

from rafka.broker import errors as broker_errors
from rafka.broker.groups import GroupError
from rafka.log import LogClosedError, LogError, OffsetOutOfRangeError
from rafka.records import BatchError
from rafka.records.compression import CompressionUnavailableError


class RpcError(Exception):
    """A door-level failure carrying its status code (bad request fields and the like)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> RpcError:
    return RpcError(grpc.StatusCode.INVALID_ARGUMENT, message)


_CODES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (broker_errors.UnknownTopicOrPartitionError, grpc.StatusCode.NOT_FOUND),
    (broker_errors.TopicAlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (broker_errors.NotOwnerError, grpc.StatusCode.FAILED_PRECONDITION),
    (broker_errors.BrokerShuttingDownError, grpc.StatusCode.UNAVAILABLE),
    (broker_errors.BrokerError, grpc.StatusCode.INVALID_ARGUMENT),
    (OffsetOutOfRangeError, grpc.StatusCode.OUT_OF_RANGE),
    (LogClosedError, grpc.StatusCode.UNAVAILABLE),
    (LogError, grpc.StatusCode.INTERNAL),
    (CompressionUnavailableError, grpc.StatusCode.INTERNAL),
    (BatchError, grpc.StatusCode.INVALID_ARGUMENT),
)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message for an exception a handler let escape."""
    if isinstance(exc, RpcError):
        return exc.code, exc.message
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code, str(exc) or cls.__name__
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


HANDLED: tuple[type[BaseException], ...] = (
    RpcError,
    broker_errors.BrokerError,
    LogError,
    BatchError,
    CompressionUnavailableError,
)


def group_error(error: GroupError, group: str) -> RpcError:
    """An offset commit or fetch the group coordinator refused."""
    if error is GroupError.UNKNOWN_TOPIC_OR_PARTITION:
        return RpcError(grpc.StatusCode.NOT_FOUND, error.value)
    if error is GroupError.INVALID_GROUP_ID:
        return invalid("the consumer id (group) is empty")
    if error in (GroupError.COORDINATOR_NOT_AVAILABLE, GroupError.COORDINATOR_LOAD_IN_PROGRESS):
        return RpcError(grpc.StatusCode.UNAVAILABLE, error.value)
    if error in (GroupError.OFFSET_METADATA_TOO_LARGE, GroupError.INVALID_COMMIT_OFFSET_SIZE):
        return invalid(error.value)
    return RpcError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"group {group!r} is an active Kafka consumer group ({error.value}); "
        "use another consumer id or stop its Kafka members",
    )
