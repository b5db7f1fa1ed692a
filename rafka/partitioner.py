"""Which partition a keyed message goes to: Kafka's default partitioner, bit for bit.

The Java client (and librdkafka's `murmur2_random`) pick `toPositive(murmur2(keyBytes)) %
numPartitions`, with Kafka's 32-bit MurmurHash2 variant (seed 0x9747b28c). The gRPC door, the
client library and every Kafka client that uses the default partitioner therefore agree on where
a key lives. Lives at the top of the package because both the broker and the client use it.
"""

from __future__ import annotations

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2`: a signed 32-bit int, as Java returns it."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length & ~3
    for i in range(0, whole, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    tail = length & 3
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(value: int) -> int:
    """Kafka's `Utils.toPositive`: clear the sign bit (not abs(), which differs for MIN_VALUE)."""
    return value & 0x7FFFFFFF


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for `key` among `partitions`."""
    if partitions <= 0:
        raise ValueError(f"a topic has at least one partition, got {partitions}")
    return to_positive(murmur2(key)) % partitions
