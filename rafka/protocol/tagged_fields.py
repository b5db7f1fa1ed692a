"""Tagged fields (KIP-482) that kio's native reader will not tolerate, found and removed.

The protocol says a reader must skip tagged fields it does not know. kio's native reader
raises `KeyError("Unknown tagged field tag: N")` instead. Rather than re-implement kio's
reader, the codec keeps the native reader as the fast path and, only when it raises that
error, calls `strip_unknown_tags()`: a walk over the encoded bytes guided by the same kio
dataclasses (field order, `kafka_type`, flexibility, nesting), which copies the entity while
dropping every unknown tag at any depth, so the native reader can then decode the copy.

The same walk lists every tag present in an encoded entity (`scan_tags()`), which the tests use
to check that responses never carry a tagged field at its default value.
"""

from __future__ import annotations

import dataclasses
import struct
import types
import typing
from dataclasses import dataclass
from typing import Any

from kio.serial.readers import Reader

from rafka.protocol import _kio
from rafka.records.builder import read_uvarint

__all__ = [
    "TagInfo",
    "TagScan",
    "TagScanError",
    "read_tolerant",
    "scan_tags",
    "strip_unknown_tags",
]


class TagScanError(ValueError):
    """The bytes do not match the schema being walked."""


@dataclass(frozen=True, slots=True)
class TagInfo:
    """One tagged field met in an encoded entity."""

    path: str  # e.g. "FetchResponse.responses[0].partitions[2]"
    tag: int
    size: int  # bytes of the value
    known: bool  # whether the schema defines this tag
    name: str | None  # the field name, when known


@dataclass(frozen=True, slots=True)
class TagScan:
    data: bytes  # the entity re-encoded without unknown tags
    end: int  # offset just past the entity in the input
    tags: tuple[TagInfo, ...]  # every tag met, known or not, in wire order

    @property
    def unknown(self) -> tuple[TagInfo, ...]:
        return tuple(t for t in self.tags if not t.known)


_PRIM, _PRIM_ARRAY, _ENTITY, _ENTITY_ARRAY = range(4)

_FIXED_SIZES = {
    "bool": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "error_code": 2,
    "int32": 4,
    "uint32": 4,
    "timedelta_i32": 4,
    "int64": 8,
    "uint64": 8,
    "float64": 8,
    "timedelta_i64": 8,
    "datetime_i64": 8,
    "uuid": 16,
}
_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    kind: int
    kafka_type: str | None
    nullable: bool
    entity: type[Any] | None
    legacy_string: bool  # RequestHeader.client_id: always a legacy nullable string


@dataclass(frozen=True, slots=True)
class _Plan:
    name: str
    flexible: bool
    fields: tuple[_Field, ...]
    tagged: dict[int, _Field]


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        return args[0], True
    return tp, False


_PLANS: dict[type[Any], _Plan] = {}


def _plan(entity_type: type[Any]) -> _Plan:
    plan = _PLANS.get(entity_type)
    if plan is None:
        plan = _PLANS[entity_type] = _build_plan(entity_type)
    return plan


def _build_plan(entity_type: type[Any]) -> _Plan:
    hints = typing.get_type_hints(entity_type)
    is_header = entity_type.__name__ == "RequestHeader"
    plain: list[_Field] = []
    tagged: dict[int, _Field] = {}
    for f in dataclasses.fields(entity_type):
        inner, nullable = _unwrap_optional(hints[f.name])
        kafka_type = f.metadata.get("kafka_type")
        entity: type[Any] | None = None
        if typing.get_origin(inner) is tuple:
            item = typing.get_args(inner)[0]
            if dataclasses.is_dataclass(item):
                kind, entity = _ENTITY_ARRAY, typing.cast(type[Any], item)
            else:
                kind = _PRIM_ARRAY
        elif dataclasses.is_dataclass(inner):
            kind, entity = _ENTITY, typing.cast(type[Any], inner)
        else:
            kind = _PRIM
        if kind in (_PRIM, _PRIM_ARRAY) and kafka_type is None:
            raise TypeError(f"{entity_type.__name__}.{f.name} has no kafka_type")
        field = _Field(
            f.name, kind, kafka_type, nullable, entity, is_header and f.name == "client_id"
        )
        tag = f.metadata.get("tag")
        if tag is None:
            plain.append(field)
        else:
            tagged[int(tag)] = field
    return _Plan(entity_type.__name__, bool(entity_type.__flexible__), tuple(plain), tagged)


def _write_uvarint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class _Walker:
    __slots__ = ("data", "tags")

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.tags: list[TagInfo] = []

    def _need(self, pos: int, n: int) -> None:
        if n < 0 or pos + n > len(self.data):
            raise TagScanError(f"buffer exhausted at offset {pos} (need {n} bytes)")

    def uvarint(self, pos: int) -> tuple[int, int]:
        try:
            return read_uvarint(self.data, pos)
        except IndexError:
            raise TagScanError("buffer exhausted inside a varint") from None
        except ValueError:
            raise TagScanError("varint too long") from None

    def _skip_primitive(self, field: _Field, flexible: bool, pos: int) -> int:
        kafka_type = field.kafka_type
        assert kafka_type is not None
        size = _FIXED_SIZES.get(kafka_type)
        if size is not None:
            self._need(pos, size)
            return pos + size
        if kafka_type not in ("string", "bytes", "records"):
            raise TagScanError(f"unsupported kafka_type {kafka_type!r}")
        if flexible and not field.legacy_string:
            length, pos = self.uvarint(pos)
            length -= 1  # compact: length + 1, 0 for null
        elif kafka_type == "string":
            self._need(pos, 2)
            length = _I16.unpack_from(self.data, pos)[0]
            pos += 2
        else:
            self._need(pos, 4)
            length = _I32.unpack_from(self.data, pos)[0]
            pos += 4
        if length < 0:  # null
            if length == -1:
                return pos
            raise TagScanError(f"negative length {length} at offset {pos}")
        self._need(pos, length)
        return pos + length

    def _array_length(self, flexible: bool, pos: int) -> tuple[int, int]:
        if flexible:
            n, pos = self.uvarint(pos)
            return n - 1, pos
        self._need(pos, 4)
        return _I32.unpack_from(self.data, pos)[0], pos + 4

    def field(
        self, field: _Field, flexible: bool, pos: int, out: bytearray, path: str, in_tag: bool
    ) -> int:
        data = self.data
        if field.kind == _PRIM:
            end = self._skip_primitive(field, flexible, pos)
            out += data[pos:end]
            return end
        if field.kind == _ENTITY:
            assert field.entity is not None
            if field.nullable and not in_tag:
                self._need(pos, 1)
                marker = _I8.unpack_from(data, pos)[0]
                out.append(data[pos])
                pos += 1
                if marker < 0:
                    return pos
            return self.entity(_plan(field.entity), pos, out, f"{path}.{field.name}")
        count, end = self._array_length(flexible, pos)
        out += data[pos:end]
        pos = end
        if count < 0:
            if count == -1:
                return pos
            raise TagScanError(f"negative array length {count}")
        if field.kind == _PRIM_ARRAY:
            start = pos
            for _ in range(count):
                pos = self._skip_primitive(field, flexible, pos)
            out += data[start:pos]
            return pos
        assert field.entity is not None
        plan = _plan(field.entity)
        for i in range(count):
            pos = self.entity(plan, pos, out, f"{path}.{field.name}[{i}]")
        return pos

    def entity(self, plan: _Plan, pos: int, out: bytearray, path: str) -> int:
        for field in plan.fields:
            pos = self.field(field, plan.flexible, pos, out, path, in_tag=False)
        if not plan.flexible:
            return pos
        count, pos = self.uvarint(pos)
        kept: list[tuple[int, bytearray]] = []
        for _ in range(count):
            tag, pos = self.uvarint(pos)
            size, pos = self.uvarint(pos)
            self._need(pos, size)
            known = plan.tagged.get(tag)
            self.tags.append(
                TagInfo(path, tag, size, known is not None, known.name if known else None)
            )
            if known is not None:
                value = bytearray()
                end = self.field(known, True, pos, value, path, in_tag=True)
                if end != pos + size:
                    raise TagScanError(
                        f"{path} tag {tag} ({known.name}) declares {size} bytes "
                        f"but its value takes {end - pos}"
                    )
                kept.append((tag, value))
            pos += size
        _write_uvarint(out, len(kept))
        for tag, value in kept:
            _write_uvarint(out, tag)
            _write_uvarint(out, len(value))
            out += value
        return pos


def strip_unknown_tags(
    entity_type: type[Any], data: bytes | memoryview, offset: int = 0
) -> TagScan:
    """Walk one encoded `entity_type` at `offset` and re-encode it without unknown tags.

    Raises `TagScanError` if the bytes do not fit the schema.
    """
    view = data if isinstance(data, memoryview) else memoryview(data)
    walker = _Walker(view if view.format == "B" else view.cast("B"))
    out = bytearray()
    end = walker.entity(_plan(entity_type), offset, out, entity_type.__name__)
    return TagScan(bytes(out), end, tuple(walker.tags))


def scan_tags(
    entity_type: type[Any], data: bytes | memoryview, offset: int = 0
) -> tuple[TagInfo, ...]:
    """Every tagged field present in one encoded `entity_type` at `offset`."""
    return strip_unknown_tags(entity_type, data, offset).tags


def _is_unknown_tag(exc: KeyError) -> bool:
    return bool(exc.args) and str(exc.args[0]).startswith("Unknown tagged field")


def read_tolerant(
    entity_type: type[Any],
    data: bytes | memoryview,
    offset: int,
    read: Reader[Any] | None = None,
) -> tuple[Any, int, tuple[TagInfo, ...]]:
    """Decode one kio entity at `offset`, skipping unknown tagged fields.

    Returns (entity, end offset in `data`, the unknown tags skipped). Bytes after the entity
    are ignored. Errors propagate as raised by kio (or `TagScanError`). `read` is kio's
    reader for `entity_type`, if the caller has it at hand.
    """
    if read is None:
        read = _kio.reader(entity_type)
    try:
        entity, size = read(data, offset)  # kio returns the size read, not the end offset
    except KeyError as exc:
        if not _is_unknown_tag(exc):
            raise
        # Slow path: re-encode without the unknown tags, then decode natively.
        scan = strip_unknown_tags(entity_type, data, offset)
        entity, _ = read(scan.data, 0)
        return entity, scan.end, scan.unknown
    return entity, offset + size, ()
