"""Build kio response entities for any API version from one plain description.

kio generates a separate frozen dataclass per API version, and fields come and go between
versions (Produce v13 names topics by id, Metadata v1 adds controller_id, ...). Handlers
describe a response once as nested dicts with the union of all fields; `build` keeps the fields
the requested version has, fills the rest from the schema defaults, and recurses into nested
entities. A field the version requires and the handler did not give is a handler bug and raises.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any

_ENTITY = "entity"
_ENTITY_TUPLE = "entity_tuple"
_PLAIN = "plain"


@dataclasses.dataclass(frozen=True, slots=True)
class _FieldPlan:
    name: str
    kind: str
    nested: type | None
    has_default: bool


def _entity_type(annotation: Any) -> type | None:
    """The entity class inside `X`, `X | None`, if any."""
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            if dataclasses.is_dataclass(arg) and isinstance(arg, type):
                return arg
    return None


def _tuple_item_type(annotation: Any) -> type | None:
    """The entity class inside `tuple[X, ...]` or `tuple[X, ...] | None`, if any."""
    candidates = [annotation]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        candidates = list(typing.get_args(annotation))
    for candidate in candidates:
        if typing.get_origin(candidate) is tuple:
            args = typing.get_args(candidate)
            if args and dataclasses.is_dataclass(args[0]) and isinstance(args[0], type):
                return args[0]
    return None


@cache
def _plan(cls: type) -> tuple[_FieldPlan, ...]:
    hints = typing.get_type_hints(cls)
    plans = []
    for field in dataclasses.fields(cls):
        annotation = hints.get(field.name, field.type)
        has_default = (
            field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        )
        item = _tuple_item_type(annotation)
        if item is not None:
            plans.append(_FieldPlan(field.name, _ENTITY_TUPLE, item, has_default))
            continue
        nested = _entity_type(annotation)
        if nested is not None:
            plans.append(_FieldPlan(field.name, _ENTITY, nested, has_default))
            continue
        plans.append(_FieldPlan(field.name, _PLAIN, None, has_default))
    return tuple(plans)


def build(cls: type, data: Mapping[str, Any]) -> Any:
    """Construct `cls` from `data`, dropping keys this version lacks (see module docstring)."""
    kwargs: dict[str, Any] = {}
    for plan in _plan(cls):
        if plan.name not in data:
            if plan.has_default:
                continue
            raise KeyError(f"{cls.__module__}.{cls.__qualname__} needs field {plan.name!r}")
        value = data[plan.name]
        if value is not None and plan.nested is not None:
            if plan.kind == _ENTITY_TUPLE:
                value = tuple(
                    item if isinstance(item, plan.nested) else build(plan.nested, item)
                    for item in value
                )
            elif not isinstance(value, plan.nested):
                value = build(plan.nested, value)
        kwargs[plan.name] = value
    return cls(**kwargs)


def has_field(cls: type, name: str) -> bool:
    return any(plan.name == name for plan in _plan(cls))
