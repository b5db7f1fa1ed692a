"""GetMetrics: what the broker stores now, what moved through it, and how far consumers lag.

Computed on demand from the broker's plain counters and the logs' offsets, so it is always
consistent with what the log holds (the original kept separate counters that never moved).
"Oldest message age" is the age of the first batch still in each partition's log.
"""

from __future__ import annotations

from collections.abc import Callable

from rafka.broker import Broker, Partition
from rafka.broker.groups import GroupCoordinator
from rafka.log import LogError
from rafka.records import BATCH_HEADER_SIZE, parse_header
from rafka.server.grpc.gen import rafka_pb2 as pb


def oldest_timestamp(partition: Partition) -> int | None:
    """Timestamp of the first record in the partition's log (None when it is empty)."""
    log = partition.log
    if log.log_end_offset <= log.log_start_offset:
        return None
    try:
        read = log.read(log.log_start_offset, BATCH_HEADER_SIZE)
    except LogError:
        return None
    data = b"".join(read.chunks)
    if len(data) < BATCH_HEADER_SIZE:
        return None
    header = parse_header(data)
    return header.first_timestamp


def collect(
    broker: Broker, groups: GroupCoordinator | None, clock: Callable[[], int]
) -> pb.GetMetricsResponse:
    now = clock()
    response = pb.GetMetricsResponse(broker_id=broker.settings.broker_id)
    oldest_overall: int | None = None
    for topic in sorted(broker.topics.values(), key=lambda t: t.name):
        if topic.record.internal:
            continue
        figures = pb.TopicMetrics(topic=topic.name, partitions=len(topic.partitions))
        oldest_topic: int | None = None
        for partition in topic.partitions:
            log = partition.log
            stored = max(log.log_end_offset - log.log_start_offset, 0)
            oldest = oldest_timestamp(partition)
            age = max(now - oldest, 0) // 1000 if oldest is not None else 0
            response.partitions.append(
                pb.PartitionMetrics(
                    topic=topic.name,
                    partition=partition.index,
                    messages=stored,
                    bytes=log.size_bytes,
                    log_start_offset=log.log_start_offset,
                    log_end_offset=log.log_end_offset,
                    messages_in=partition.messages_in,
                    bytes_in=partition.bytes_in,
                    bytes_out=partition.bytes_out,
                    oldest_message_age_secs=age,
                )
            )
            figures.messages += stored
            figures.bytes += log.size_bytes
            figures.bytes_in += partition.bytes_in
            figures.bytes_out += partition.bytes_out
            if oldest is not None:
                oldest_topic = oldest if oldest_topic is None else min(oldest_topic, oldest)
        if oldest_topic is not None:
            figures.oldest_message_age_secs = max(now - oldest_topic, 0) // 1000
            oldest_overall = (
                oldest_topic if oldest_overall is None else min(oldest_overall, oldest_topic)
            )
        response.topics.append(figures)
        response.total_messages += figures.messages
        response.total_bytes += figures.bytes
        response.total_bytes_in += figures.bytes_in
        response.total_bytes_out += figures.bytes_out
    if oldest_overall is not None:
        response.oldest_message_age_secs = max(now - oldest_overall, 0) // 1000
    if groups is not None:
        response.consumer_offsets.extend(consumer_offsets(broker, groups))
    return response


def consumer_offsets(broker: Broker, groups: GroupCoordinator) -> list[pb.ConsumerOffset]:
    """Every committed offset this broker stores (Kafka groups and gRPC consumers alike)."""
    out: list[pb.ConsumerOffset] = []
    for listing in groups.list_groups():
        fetched = groups.fetch_offsets(listing.group_id, None)
        for (topic, number), committed in fetched.offsets.items():
            if committed is None:
                continue
            found = broker.topics.get(topic)
            if found is None or not 0 <= number < len(found.partitions):
                continue
            end = found.partitions[number].log.high_watermark
            out.append(
                pb.ConsumerOffset(
                    group=listing.group_id,
                    topic=topic,
                    partition=number,
                    committed_offset=committed.offset,
                    log_end_offset=end,
                    lag=max(end - committed.offset, 0),
                )
            )
    return out
