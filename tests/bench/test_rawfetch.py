"""The raw Fetch client's parts that need no broker: the response walk against kio's decoder,
and record counting from batch headers. (`test_bench_smoke.py` runs it against a broker.)"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from rafka.bench._rawfetch import (
    PartitionRecords,
    RawFetchError,
    count_records,
    fetch_count,
    fetch_partitions,
)
from rafka.protocol import (
    AbortedTransaction,
    ApiKey,
    FetchPartition,
    FetchResponseData,
    FetchTopic,
    decode_response,
    encode_fetch_response,
)
from rafka.records.builder import Record, build_batch
from tests.support.broker_process import BrokerProcess

i32s = st.integers(-(2**31), 2**31 - 1)
i64s = st.integers(-(2**63), 2**63 - 1)
partitions = st.builds(
    FetchPartition,
    partition_index=i32s,
    high_watermark=i64s,
    error_code=st.sampled_from([ErrorCode.none, ErrorCode.offset_out_of_range,
                                ErrorCode.not_leader_or_follower]),
    last_stable_offset=i64s,
    log_start_offset=i64s,
    aborted_transactions=st.none() | st.lists(
        st.builds(AbortedTransaction, producer_id=i64s, first_offset=i64s), max_size=2),
    preferred_read_replica=i32s,
    records=st.none() | st.lists(st.binary(max_size=40) | st.binary(max_size=40).map(memoryview),
                                 max_size=3),
)
responses = st.builds(
    FetchResponseData,
    responses=st.lists(st.builds(FetchTopic, partitions=st.lists(partitions, max_size=3),
                                 topic=st.text(max_size=10)), max_size=3),
    throttle_time_ms=st.integers(0, 2**31 - 1),
    error_code=st.sampled_from([ErrorCode.none, ErrorCode.fetch_session_id_not_found]),
    session_id=i32s,
)


def by_kio(frame: bytes, version: int) -> tuple[int, list[PartitionRecords]]:
    r: Any = decode_response(ApiKey.FETCH, version, frame)
    return int(getattr(r, "error_code", 0)), [
        PartitionRecords(t.topic, p.partition_index, p.error_code, p.high_watermark,
                         getattr(p, "log_start_offset", -1), p.records)
        for t in r.responses for p in t.partitions]


def normal(parts: list[PartitionRecords]) -> list[PartitionRecords]:
    return [p._replace(records=None if p.records is None else bytes(p.records)) for p in parts]


@pytest.mark.parametrize("version", range(4, 13))
@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=responses, correlation_id=i32s)
def test_the_walk_reads_what_kio_reads(version: int, data: FetchResponseData,
                                       correlation_id: int) -> None:
    frame = b"".join(encode_fetch_response(correlation_id, version, data))[4:]
    error, parts = fetch_partitions(memoryview(frame), version)
    want_error, want = by_kio(frame, version)
    assert error == want_error
    assert normal(parts) == normal(want)
    if version <= 11:  # walked: records are views of the frame, never copies
        assert all(p.records is None or isinstance(p.records, memoryview) for p in parts)


def test_a_truncated_response_is_an_error() -> None:
    data = FetchResponseData(responses=[FetchTopic(topic="t", partitions=[
        FetchPartition(partition_index=0, high_watermark=5, records=[b"x" * 100])])])
    frame = b"".join(encode_fetch_response(1, 11, data))[4:]
    with pytest.raises(RawFetchError, match="malformed Fetch v11"):
        fetch_partitions(memoryview(frame[:-10]), 11)


def batch(base: int, n: int, *, control: bool = False) -> bytes:
    return build_batch([Record(value=b"v" * 10) for _ in range(n)], base_offset=base,
                       is_control=control, is_transactional=control,
                       producer_id=1 if control else -1, producer_epoch=0 if control else -1)


def test_counts_records_from_headers() -> None:
    records = batch(0, 3) + batch(3, 5) + batch(8, 2)
    counted = count_records(records, 0)
    assert (counted.messages, counted.batches, counted.next_offset) == (10, 3, 10)
    assert counted.nbytes == len(records)


def test_records_before_the_fetch_offset_are_not_counted() -> None:
    records = batch(0, 3) + batch(3, 5)
    assert count_records(records, 4)[:1] == (4,)  # offsets 4-7 of the second batch
    assert count_records(records, 4).next_offset == 8
    assert count_records(batch(0, 3), 3) == (0, 1, len(batch(0, 3)), 3)


def test_a_partial_batch_at_the_end_is_left_for_the_next_fetch() -> None:
    whole, cut = batch(0, 4), batch(4, 4)
    counted = count_records(whole + cut[:-7], 0)
    assert (counted.messages, counted.batches, counted.next_offset) == (4, 1, 4)
    assert count_records(cut[:30], 4) == (0, 0, 0, 4)


def test_control_batches_advance_but_do_not_count() -> None:
    records = batch(0, 2) + batch(2, 1, control=True) + batch(3, 2)
    counted = count_records(records, 0)
    assert (counted.messages, counted.next_offset) == (4, 5)


# ------------------------------------------------------------------------------ against a broker
def produce(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    from confluent_kafka import Producer

    from rafka.bench import open_driver

    open_driver("kafka", bootstrap).create_topic(topic, partitions)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for p in range(partitions):
        for _ in range(per_partition):
            producer.produce(topic, b"x" * 100, partition=p)
    assert producer.flush(30) == 0


def test_counts_every_partition(shared_broker: BrokerProcess) -> None:
    produce(shared_broker.bootstrap, "raw-count", 3, 700)
    counted = fetch_count(shared_broker.bootstrap, "raw-count", 2100, max_seconds=20)
    assert counted.messages == 2100 and not counted.capped
    assert counted.fetch_version == 11 and counted.brokers == 1


def test_caps_when_fewer_records_than_expected(shared_broker: BrokerProcess) -> None:
    produce(shared_broker.bootstrap, "raw-short", 1, 50)
    counted = fetch_count(shared_broker.bootstrap, "raw-short", 51, max_seconds=1.5)
    assert counted.messages == 50 and counted.capped


def test_unknown_topic_is_a_clear_error(shared_broker: BrokerProcess) -> None:
    with pytest.raises(RawFetchError, match="UNKNOWN_TOPIC_OR_PARTITION"):
        fetch_count(shared_broker.bootstrap, "raw-no-such-topic", 1, max_seconds=1, timeout=1)


def test_offset_out_of_range_is_a_clear_error(shared_broker: BrokerProcess) -> None:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    produce(shared_broker.bootstrap, "raw-trimmed", 1, 100)
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    admin.delete_records([TopicPartition("raw-trimmed", 0, 40)])[
        TopicPartition("raw-trimmed", 0, 40)].result(20)
    with pytest.raises(RawFetchError, match=r"partition 0 at offset 0: OFFSET_OUT_OF_RANGE "
                                            r"\(log start offset 40, high watermark 100\)"):
        fetch_count(shared_broker.bootstrap, "raw-trimmed", 100, max_seconds=10)


def test_no_broker_is_a_clear_error() -> None:
    with pytest.raises(RawFetchError, match="cannot connect to 127.0.0.1:1"):
        fetch_count("127.0.0.1:1", "t", 1, max_seconds=1, timeout=1)
