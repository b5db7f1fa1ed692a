"""The Kafka v2 record batch format: header checks on opaque bytes, and a small builder/decoder.

This package sits below every other layer (the log stores batches, the protocol carries them,
front doors build them). The hot path only ever touches the 61-byte batch header.
"""

from rafka.records.batch import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    BatchError,
    BatchHeader,
    BatchTooLargeError,
    Compression,
    CorruptBatchError,
    InvalidBatchError,
    TimestampType,
    check_batch,
    check_stored_batch,
    iter_batches,
    parse_header,
    set_base_offset,
    set_log_append_time,
    set_partition_leader_epoch,
    validate_batches,
)
from rafka.records.builder import Record, build_batch, decode_batch, decode_batches
from rafka.records.compression import CompressionUnavailableError

__all__ = [
    "BATCH_HEADER_SIZE",
    "LOG_OVERHEAD",
    "BatchError",
    "BatchHeader",
    "BatchTooLargeError",
    "Compression",
    "CompressionUnavailableError",
    "CorruptBatchError",
    "InvalidBatchError",
    "Record",
    "TimestampType",
    "build_batch",
    "check_batch",
    "check_stored_batch",
    "decode_batch",
    "decode_batches",
    "iter_batches",
    "parse_header",
    "set_base_offset",
    "set_log_append_time",
    "set_partition_leader_epoch",
    "validate_batches",
]
