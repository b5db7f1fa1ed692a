"""Shared helpers for the protocol tests: hypothesis strategies for kio entities."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import types
import typing
import uuid
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from kio.static.primitive import Records

from rafka.protocol import (
    CORE_API_KEYS,
    GROUP_API_KEYS,
    PRODUCER_API_KEYS,
    SASL_API_KEYS,
    SupportedApis,
)

# kio registers strategies for its primitives, but not for the records blob.
st.register_type_strategy(Records, st.binary(max_size=64).map(Records))

#: Everything the broker will implement, at kio's full version ranges.
BROKER_APIS = SupportedApis.of(CORE_API_KEYS + GROUP_API_KEYS + PRODUCER_API_KEYS + SASL_API_KEYS)

#: (api_key, version) at the min and max version of every broker API.
MIN_MAX_VERSIONS = sorted(
    {(a.api_key, v) for a in BROKER_APIS for v in (a.min_version, a.max_version)}
)
#: (api_key, version) for every version of every broker API.
ALL_VERSIONS = sorted(
    (a.api_key, v) for a in BROKER_APIS for v in range(a.min_version, a.max_version + 1)
)

# Generated entities are cheap; keep the suite fast and deterministic.
quick = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def populated(cls: type[Any]) -> Any:
    """A deterministic instance of a kio entity with every field set to a non-default value
    (arrays hold one element, nullable fields are not null), so every field, tagged ones
    included, is exercised on the wire."""
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _value(hints[f.name]) for f in dataclasses.fields(cls)})


def _value(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _value(inner)
    if origin is tuple:
        return (_value(typing.get_args(tp)[0]),)
    if dataclasses.is_dataclass(tp):
        return populated(typing.cast(type[Any], tp))
    if tp is bool:
        return True
    if issubclass(tp, enum.IntEnum):
        return list(tp)[2]
    if issubclass(tp, int):
        return tp(7)
    if issubclass(tp, float):
        return tp(1.5)
    if issubclass(tp, str):
        return "name"
    if issubclass(tp, bytes):
        return tp(b"\x01\x02\x03")
    if tp is uuid.UUID:
        return uuid.UUID(int=0x1234)
    if issubclass(tp, datetime.timedelta):
        return tp.parse(datetime.timedelta(milliseconds=1500))
    if issubclass(tp, datetime.datetime):
        moment = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
        return tp.parse(moment)
    raise TypeError(f"no value for {tp!r}")


def version_id(case: Any) -> str:
    api_key, version = case
    return f"{BROKER_APIS.get(api_key).name}-v{version}"
