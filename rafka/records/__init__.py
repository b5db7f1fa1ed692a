"""The Kafka v2 record batch format: header checks on opaque bytes, and a small builder/decoder.

This package sits below every other layer (the log stores batches, the protocol carries them,
front doors build them). The hot path only ever touches the 61-byte batch header.
"""

from rafka.records.batch import (
    BATCH_HEADER_SIZE,
    BatchHeader,
    BatchError,
    CorruptBatchError,
    InvalidBatchError,
    BatchTooLargeError,
    Compression,
    TimestampType,
    iter_batches,
    parse_header,
    set_base_offset,
    set_log_append_time,
    validate_batches,
)

__all__ = [
    "BATCH_HEADER_SIZE",
    "BatchError",
    "BatchHeader",
    "BatchTooLargeError",
    "Compression",
    "CorruptBatchError",
    "InvalidBatchError",
    "TimestampType",
    "iter_batches",
    "parse_header",
    "set_base_offset",
    "set_log_append_time",
    "validate_batches",
]
