"""Which Kafka APIs exist, which versions kio can encode/decode, and which ones a server serves.

`KIO_APIS` is derived from kio's own schema index (never hand-maintained): for every API key,
the contiguous range of versions for which kio has both a request and a response type.
`SupportedApis` is an immutable subset of it, possibly with narrower ranges, that a server
declares; the codec rejects everything outside it and ApiVersions answers with it.
`ApiKey` names the keys handlers dispatch on, and `ErrorCode` is kio's error enum, re-exported
so handlers need only `rafka.protocol`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from kio.schema.errors import ErrorCode
from kio.schema.index import api_key_map, schema_name_map
from kio.static.constants import EntityType

__all__ = [
    "CORE_API_KEYS",
    "GROUP_API_KEYS",
    "KIO_APIS",
    "PRODUCER_API_KEYS",
    "SASL_API_KEYS",
    "ApiKey",
    "ApiRange",
    "ErrorCode",
    "SupportedApis",
]


class ApiKey(enum.IntEnum):
    """Kafka API keys this project serves (values are Kafka's; checked against kio in tests)."""

    PRODUCE = 0
    FETCH = 1
    LIST_OFFSETS = 2
    METADATA = 3
    OFFSET_COMMIT = 8
    OFFSET_FETCH = 9
    FIND_COORDINATOR = 10
    JOIN_GROUP = 11
    HEARTBEAT = 12
    LEAVE_GROUP = 13
    SYNC_GROUP = 14
    DESCRIBE_GROUPS = 15
    LIST_GROUPS = 16
    SASL_HANDSHAKE = 17
    API_VERSIONS = 18
    CREATE_TOPICS = 19
    DELETE_TOPICS = 20
    DELETE_RECORDS = 21
    INIT_PRODUCER_ID = 22
    OFFSET_FOR_LEADER_EPOCH = 23
    DESCRIBE_CONFIGS = 32
    ALTER_CONFIGS = 33
    SASL_AUTHENTICATE = 36
    CREATE_PARTITIONS = 37
    DELETE_GROUPS = 42
    INCREMENTAL_ALTER_CONFIGS = 44
    OFFSET_DELETE = 47
    DESCRIBE_CLUSTER = 60


#: Topic/partition/config administration and the data path (phase one of the broker).
CORE_API_KEYS: tuple[ApiKey, ...] = (
    ApiKey.API_VERSIONS,
    ApiKey.METADATA,
    ApiKey.PRODUCE,
    ApiKey.FETCH,
    ApiKey.LIST_OFFSETS,
    ApiKey.CREATE_TOPICS,
    ApiKey.DELETE_TOPICS,
    ApiKey.CREATE_PARTITIONS,
    ApiKey.DESCRIBE_CONFIGS,
    ApiKey.ALTER_CONFIGS,
    ApiKey.INCREMENTAL_ALTER_CONFIGS,
    ApiKey.DELETE_RECORDS,
    ApiKey.DESCRIBE_CLUSTER,
    ApiKey.OFFSET_FOR_LEADER_EPOCH,
)
#: The classic consumer-group protocol and committed offsets.
GROUP_API_KEYS: tuple[ApiKey, ...] = (
    ApiKey.FIND_COORDINATOR,
    ApiKey.JOIN_GROUP,
    ApiKey.SYNC_GROUP,
    ApiKey.HEARTBEAT,
    ApiKey.LEAVE_GROUP,
    ApiKey.OFFSET_COMMIT,
    ApiKey.OFFSET_FETCH,
    ApiKey.DESCRIBE_GROUPS,
    ApiKey.LIST_GROUPS,
    ApiKey.DELETE_GROUPS,
    ApiKey.OFFSET_DELETE,
)
#: Idempotent producers.
PRODUCER_API_KEYS: tuple[ApiKey, ...] = (ApiKey.INIT_PRODUCER_ID,)
#: SASL authentication.
SASL_API_KEYS: tuple[ApiKey, ...] = (ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE)


@dataclass(frozen=True, slots=True)
class ApiRange:
    """One API and an inclusive range of versions."""

    api_key: int
    name: str  # kio's module name, e.g. "list_offsets"
    min_version: int
    max_version: int

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version

    @property
    def kafka_name(self) -> str:
        """Kafka's CamelCase name, e.g. "ListOffsets"."""
        return "".join(part.capitalize() for part in self.name.split("_"))


def _kio_apis() -> Mapping[int, ApiRange]:
    apis: dict[int, ApiRange] = {}
    for api_key, name in sorted(api_key_map.items()):
        by_version = schema_name_map.get(name, {})
        versions = sorted(
            v
            for v, types in by_version.items()
            if EntityType.request in types and EntityType.response in types
        )
        if not versions:
            continue
        low = high = versions[0]
        # Only a contiguous range can be advertised through ApiVersions.
        while high + 1 in versions:
            high += 1
        apis[api_key] = ApiRange(api_key, name, low, high)
    return MappingProxyType(apis)


#: Every API kio can encode and decode, with its version range.
KIO_APIS: Mapping[int, ApiRange] = _kio_apis()


class SupportedApis:
    """The APIs (and versions) a server implements: an immutable subset of `KIO_APIS`.

    >>> apis = SupportedApis.of(CORE_API_KEYS).restrict(ApiKey.FETCH, 4, 12)
    >>> apis.supports(ApiKey.FETCH, 13)
    False
    """

    __slots__ = ("_ranges",)

    def __init__(self, ranges: Iterable[ApiRange]) -> None:
        table: dict[int, ApiRange] = {}
        for api in ranges:
            known = KIO_APIS.get(api.api_key)
            if known is None:
                raise ValueError(f"kio has no schema for api key {api.api_key}")
            if not (known.min_version <= api.min_version <= api.max_version <= known.max_version):
                raise ValueError(
                    f"{known.name} versions {api.min_version}-{api.max_version} are outside "
                    f"what kio implements ({known.min_version}-{known.max_version})"
                )
            table[api.api_key] = api
        self._ranges: Mapping[int, ApiRange] = MappingProxyType(dict(sorted(table.items())))

    @classmethod
    def of(
        cls,
        api_keys: Iterable[int],
        versions: Mapping[int, tuple[int, int]] | None = None,
    ) -> SupportedApis:
        """The given keys at kio's full version ranges, except where `versions` narrows them."""
        versions = versions or {}
        ranges = []
        for key in api_keys:
            known = KIO_APIS.get(int(key))
            if known is None:
                raise ValueError(f"kio has no schema for api key {key}")
            low, high = versions.get(key, (known.min_version, known.max_version))
            ranges.append(ApiRange(known.api_key, known.name, low, high))
        return cls(ranges)

    @classmethod
    def everything(cls) -> SupportedApis:
        """Every API kio knows, at its full range (for tools and tests, not for a broker)."""
        return cls(KIO_APIS.values())

    def get(self, api_key: int) -> ApiRange | None:
        return self._ranges.get(api_key)

    def supports(self, api_key: int, version: int) -> bool:
        api = self._ranges.get(api_key)
        return api is not None and api.supports(version)

    def restrict(self, api_key: int, min_version: int, max_version: int) -> SupportedApis:
        """A copy with one API's range replaced (it must already be present)."""
        api = self._ranges[api_key]
        changed = ApiRange(api.api_key, api.name, min_version, max_version)
        return SupportedApis([*(r for r in self if r.api_key != api_key), changed])

    def union(self, other: SupportedApis) -> SupportedApis:
        """A copy with `other`'s APIs added (its ranges win on conflicts)."""
        table = dict(self._ranges)
        table.update(other._ranges)
        return SupportedApis(table.values())

    def __contains__(self, api_key: object) -> bool:
        return api_key in self._ranges

    def __iter__(self) -> Iterator[ApiRange]:
        return iter(self._ranges.values())

    def __len__(self) -> int:
        return len(self._ranges)

    def __repr__(self) -> str:
        inner = ", ".join(f"{r.name}:{r.min_version}-{r.max_version}" for r in self)
        return f"SupportedApis({inner})"
