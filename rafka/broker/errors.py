"""Errors the broker layer raises, independent of any front door.

Each front door maps them to its own vocabulary: the Kafka door to protocol error codes
(`rafka.server.kafka.errors`), the gRPC door to status codes. Messages name the problem so
they can be shown to a user as they are.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base class for errors a client caused or can act on."""


class UnknownTopicOrPartitionError(BrokerError):
    pass


class TopicAlreadyExistsError(BrokerError):
    pass


class InvalidTopicError(BrokerError):
    pass


class InvalidPartitionsError(BrokerError):
    pass


class InvalidReplicationFactorError(BrokerError):
    pass


class InvalidConfigError(BrokerError):
    pass


class InvalidRequestError(BrokerError):
    pass


class BrokerShuttingDownError(BrokerError):
    pass


class NotOwnerError(BrokerError):
    """The partition belongs to another broker (multi-broker mode); the message names it."""
