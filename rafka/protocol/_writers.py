"""The few primitive writers the hand-written response encoders share (`fetch_response`,
`produce_response`): Kafka's unsigned varint, array/bytes lengths and strings, in their
classic (int16/int32) or compact (varint, flexible versions) forms, appended to a bytearray."""

from __future__ import annotations

import struct

from rafka.records.builder import put_uvarint

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


# Kafka's unsigned varint: the record builder's base-128 writer.
write_uvarint = put_uvarint


def write_length(out: bytearray, n: int | None, flexible: bool) -> None:
    """An array or records length: compact (n+1, 0 = null) or int32 (-1 = null)."""
    if flexible:
        if n is None:
            out.append(0)
        elif n < 0x7F:
            out.append(n + 1)  # one varint byte, the usual case: no call
        else:
            write_uvarint(out, n + 1)
    else:
        out += _I32.pack(-1 if n is None else n)


def write_string(out: bytearray, value: str | None, flexible: bool) -> None:
    """A (nullable) string: compact (length+1, 0 = null) or int16 length (-1 = null)."""
    raw = None if value is None else value.encode()
    if flexible:
        if raw is None:
            out.append(0)
        elif len(raw) < 0x7F:
            out.append(len(raw) + 1)  # one varint byte, the usual case: no call
        else:
            write_uvarint(out, len(raw) + 1)
    else:
        out += _I16.pack(-1 if raw is None else len(raw))
    if raw:
        out += raw
