"""The API table derived from kio and the subset a server declares."""

from __future__ import annotations

import pytest
from kio.schema.index import api_key_map

from rafka.protocol import (
    CORE_API_KEYS,
    GROUP_API_KEYS,
    KIO_APIS,
    PRODUCER_API_KEYS,
    SASL_API_KEYS,
    ApiKey,
    ApiRange,
    SupportedApis,
    request_class,
    response_class,
)


def test_api_key_names_match_kio() -> None:
    for key in ApiKey:
        assert api_key_map[key] == key.name.lower()


def test_kio_ranges_for_the_data_path() -> None:
    expected = {
        ApiKey.PRODUCE: (3, 13),
        ApiKey.FETCH: (4, 18),
        ApiKey.METADATA: (0, 13),
        ApiKey.API_VERSIONS: (0, 4),
        ApiKey.LIST_OFFSETS: (1, 11),
    }
    for key, versions in expected.items():
        api = KIO_APIS[key]
        assert (api.min_version, api.max_version) == versions


@pytest.mark.parametrize("key", CORE_API_KEYS + GROUP_API_KEYS + PRODUCER_API_KEYS + SASL_API_KEYS)
def test_every_broker_api_has_types_for_every_version(key: ApiKey) -> None:
    api = KIO_APIS[key]
    for version in range(api.min_version, api.max_version + 1):
        assert request_class(key, version).__version__ == version
        assert response_class(key, version).__api_key__ == key


def test_supported_apis() -> None:
    apis = SupportedApis.of(CORE_API_KEYS, versions={ApiKey.FETCH: (4, 12)})
    assert len(apis) == len(CORE_API_KEYS)
    assert ApiKey.FETCH in apis and ApiKey.JOIN_GROUP not in apis
    assert apis.supports(ApiKey.FETCH, 12) and not apis.supports(ApiKey.FETCH, 13)
    assert not apis.supports(ApiKey.JOIN_GROUP, 0)
    assert [a.api_key for a in apis] == sorted(int(k) for k in CORE_API_KEYS)
    fetch = apis.get(ApiKey.FETCH)
    assert fetch == ApiRange(1, "fetch", 4, 12)
    assert fetch.kafka_name == "Fetch"
    assert apis.get(ApiKey.OFFSET_FOR_LEADER_EPOCH).kafka_name == "OffsetForLeaderEpoch"

    narrowed = apis.restrict(ApiKey.METADATA, 1, 12)
    assert narrowed.get(ApiKey.METADATA) == ApiRange(3, "metadata", 1, 12)
    assert apis.get(ApiKey.METADATA) == KIO_APIS[ApiKey.METADATA]  # immutable

    more = apis.union(SupportedApis.of(GROUP_API_KEYS))
    assert ApiKey.JOIN_GROUP in more and ApiKey.FETCH in more
    assert "fetch:4-12" in repr(more)


def test_supported_apis_validation() -> None:
    with pytest.raises(ValueError, match="outside"):
        SupportedApis.of([ApiKey.FETCH], versions={ApiKey.FETCH: (0, 18)})
    with pytest.raises(ValueError, match="outside"):
        SupportedApis([ApiRange(3, "metadata", 5, 4)])
    with pytest.raises(ValueError, match="no schema"):
        SupportedApis.of([7])  # ControlledShutdown: not in kio
    assert len(SupportedApis.everything()) == len(KIO_APIS)
