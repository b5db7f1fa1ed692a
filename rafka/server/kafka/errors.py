"""How broker and log errors read on the Kafka wire: the error code clients act on."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from rafka.broker import errors as broker_errors
from rafka.broker import producers
from rafka.log import LogError, OffsetOutOfRangeError
from rafka.records import BatchTooLargeError, CorruptBatchError, InvalidBatchError

_CODES: tuple[tuple[type[BaseException], ErrorCode], ...] = (
    (broker_errors.UnknownTopicOrPartitionError, ErrorCode.unknown_topic_or_partition),
    (broker_errors.TopicAlreadyExistsError, ErrorCode.topic_already_exists),
    (broker_errors.InvalidTopicError, ErrorCode.invalid_topic_exception),
    (broker_errors.InvalidPartitionsError, ErrorCode.invalid_partitions),
    (broker_errors.InvalidReplicationFactorError, ErrorCode.invalid_replication_factor),
    (broker_errors.InvalidConfigError, ErrorCode.invalid_config),
    (broker_errors.InvalidRequestError, ErrorCode.invalid_request),
    (broker_errors.BrokerShuttingDownError, ErrorCode.not_leader_or_follower),
    (broker_errors.NotOwnerError, ErrorCode.not_leader_or_follower),
    (producers.OutOfOrderSequenceError, ErrorCode.out_of_order_sequence_number),
    (producers.InvalidProducerEpochError, ErrorCode.invalid_producer_epoch),
    (OffsetOutOfRangeError, ErrorCode.offset_out_of_range),
    (CorruptBatchError, ErrorCode.corrupt_message),
    (BatchTooLargeError, ErrorCode.message_too_large),
    (InvalidBatchError, ErrorCode.invalid_record),
    (LogError, ErrorCode.kafka_storage_error),
)


def error_code_for(exc: BaseException) -> ErrorCode:
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return ErrorCode.unknown_server_error
