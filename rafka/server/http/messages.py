"""The last messages of a topic for the console: key, value preview, headers, timestamp.

Reads whole batches below the high watermark (what a consumer could see) and decodes them
with `rafka.records`; only the console's topic page asks for this, never the hot path.
Values that are valid UTF-8 are shown as text, anything else as base64, both cut to
`PREVIEW_BYTES` with the full size alongside. Batches that cannot be decoded (a compression
codec that is not installed) are reported instead of failing the whole answer.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from rafka.broker import Partition
from rafka.log import LogError
from rafka.records import BatchError, CompressionUnavailableError, decode_batches, iter_batches

MAX_LIMIT = 500
PREVIEW_BYTES = 256
_READ_BYTES = 1024 * 1024
_MAX_READS = 16  # at most 16 MiB read per partition for one answer


def preview(data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {"text": None, "encoding": None, "size": None, "truncated": False}
    cut = data[:PREVIEW_BYTES]
    try:
        text = cut.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text = base64.b64encode(cut).decode("ascii")
        encoding = "base64"
    return {
        "text": text,
        "encoding": encoding,
        "size": len(data),
        "truncated": len(data) > PREVIEW_BYTES,
    }


def _partition_messages(partition: Partition, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The last `limit` messages of one partition, oldest first; and batches skipped."""
    log = partition.log
    high_watermark = log.high_watermark
    offset = max(log.log_start_offset, high_watermark - limit)
    found: list[dict[str, Any]] = []
    skipped = 0
    for _ in range(_MAX_READS):
        if offset >= high_watermark:
            break
        try:
            read = log.read(offset, _READ_BYTES, max_offset=high_watermark)
        except LogError:
            break
        data = b"".join(read.chunks)
        if not data:
            break
        next_offset = offset
        for pos, header in iter_batches(data):
            next_offset = header.next_offset
            if header.is_control:
                continue
            try:
                records = decode_batches(data[pos : pos + header.size])
            except (BatchError, CompressionUnavailableError):
                skipped += 1
                continue
            for record in records:
                if offset <= record.offset < high_watermark:
                    found.append(_message_json(partition.index, record))
        if next_offset <= offset:
            break
        offset = next_offset
    return found[-limit:], skipped


def _message_json(partition: int, record: Any) -> dict[str, Any]:
    return {
        "partition": partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "key": preview(record.key),
        "value": preview(record.value),
        "headers": [
            {"key": name, "value": preview(value)} for name, value in record.headers
        ],
    }


def last_messages(partitions: Sequence[Partition], limit: int) -> dict[str, Any]:
    """The newest `limit` messages over the given partitions, newest first."""
    messages: list[dict[str, Any]] = []
    skipped = 0
    for partition in partitions:
        found, lost = _partition_messages(partition, limit)
        messages.extend(found)
        skipped += lost
    messages.sort(key=lambda m: (m["timestamp_ms"], m["offset"]), reverse=True)
    return {"items": messages[:limit], "undecodable_batches": skipped}
