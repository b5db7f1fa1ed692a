"""murmur2 exactly as Kafka's Java client computes it (vectors from Kafka's UtilsTest)."""

from __future__ import annotations

import pytest

from rafka.partitioner import murmur2, partition_for_key, to_positive

KAFKA_VECTORS = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]


@pytest.mark.parametrize(("data", "expected"), KAFKA_VECTORS)
def test_murmur2_matches_kafka(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


def test_partition_is_to_positive_modulo() -> None:
    for data, hashed in KAFKA_VECTORS:
        assert partition_for_key(data, 7) == (hashed & 0x7FFFFFFF) % 7
    assert to_positive(-(2**31)) == 0  # abs() would overflow in Java; toPositive does not
    with pytest.raises(ValueError):
        partition_for_key(b"k", 0)


def test_every_tail_length() -> None:
    # Exercise the 0-3 byte tails; values are stable 32-bit signed ints.
    for length in range(9):
        value = murmur2(bytes(range(length)))
        assert -(2**31) <= value < 2**31
