"""Request counters for a front door: counts, errors by error code and latency histograms.

A front door calls `RequestStats.finished()` once per request it answered, with the
`time.perf_counter()` value taken before its handler ran. That costs a dictionary lookup, a
few integer increments and a `bisect` (no locks, no prometheus-client objects); the collector
turns the integers into Prometheus counters and histograms at scrape time.

Error codes are read from the response itself, the way Kafka's `AbstractResponse.errorCounts()`
does: every `error_code` field of a kio response entity, however deeply nested, counts once.
Which fields of which classes can hold one is worked out once per response class, so a
response walks only the lists that can contain an error code. Responses that are not kio
entities (the pre-encoded Fetch response) report their codes with `count_error()` instead.

The gRPC door keeps a `RequestStats` of its own, keyed by method number, with gRPC status
codes as its error codes: the two doors never share counters or labels.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from bisect import bisect_left
from collections.abc import Callable
from time import perf_counter
from typing import Any

from kio.schema.errors import ErrorCode

#: Upper bounds (seconds) of the latency histogram buckets; the last bucket is +Inf.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_FIRST_BOUND = LATENCY_BUCKETS[0]


class ApiStats:
    """One API's plain counters. `buckets[i]` counts requests in (bound[i-1], bound[i]];
    the collector makes them cumulative."""

    __slots__ = ("buckets", "count", "errors", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.errors: dict[int, int] = {}


class RequestStats:
    """Counters keyed by API key (an int); the front door supplies the names at scrape time."""

    __slots__ = ("apis",)

    def __init__(self) -> None:
        self.apis: dict[int, ApiStats] = {}

    def _stats(self, api_key: int) -> ApiStats:
        stats = self.apis.get(api_key)
        if stats is None:
            stats = self.apis[api_key] = ApiStats()
        return stats

    def finished(self, api_key: int, started: float, response: Any) -> None:
        """Count one answered request (`response` None: no response, as for acks=0)."""
        elapsed = perf_counter() - started
        stats = self.apis.get(api_key)
        if stats is None:
            stats = self._stats(api_key)
        stats.count += 1
        stats.seconds += elapsed
        # Most requests land in the first bucket; skip the bisect for them.
        stats.buckets[0 if elapsed <= _FIRST_BOUND else bisect_left(LATENCY_BUCKETS, elapsed)] += 1
        if response is not None:
            walk = _WALKERS.get(type(response))
            if walk is None:
                walk = _walker_for(type(response))
            if walk is not _no_errors:
                codes: list[int] = []
                walk(response, codes)
                if codes:
                    errors = stats.errors
                    for code in codes:
                        errors[code] = errors.get(code, 0) + 1

    def failed(self, api_key: int, started: float, code: int) -> None:
        """Count a request that got no response because it failed (the handler raised)."""
        self.finished(api_key, started, None)
        errors = self._stats(api_key).errors
        errors[code] = errors.get(code, 0) + 1

    def ended(self, api_key: int, code: int = 0) -> None:
        """Count a call with no latency worth recording (a gRPC stream lasts as long as its
        client reads) and its error code, if it ended with one."""
        stats = self.apis.get(api_key)
        if stats is None:
            stats = self._stats(api_key)
        stats.count += 1
        if code:
            stats.errors[code] = stats.errors.get(code, 0) + 1

    def count_error(self, api_key: int, code: int) -> None:
        """Count one error code of a response the walk cannot see: a pre-encoded Fetch
        response reports each of its codes (top level and per partition) as it is built."""
        stats = self.apis.get(api_key)
        if stats is None:
            stats = self._stats(api_key)
        errors = stats.errors
        code = int(code)
        errors[code] = errors.get(code, 0) + 1

    def count_errors(self, api_key: int, codes: dict[int, int]) -> None:
        """Add error counts learned elsewhere, several at once."""
        errors = self._stats(api_key).errors
        for code, count in codes.items():
            errors[code] = errors.get(code, 0) + count


# ---------------------------------------------------------------- error-code walkers

Walker = Callable[[Any, list[int]], None]


def _no_errors(entity: Any, out: list[int]) -> None:
    return None


_WALKERS: dict[type, Walker] = {}


def _entity_types(hint: Any) -> tuple[type, bool] | None:
    """(entity class, is a tuple of them) if a field's type holds kio entities, else None."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if args and isinstance(args[0], type) and dataclasses.is_dataclass(args[0]):
            return args[0], True
        return None
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                return arg, False
        return None
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint, False
    return None


def _walker_for(cls: type) -> Walker:
    """Build (and cache) the function that collects the non-zero error codes of a `cls`.

    The function is generated as straight-line Python with one nested loop per list of
    entities that can hold an error code (as kio generates its readers), which makes a
    one-partition Produce response cost a few hundred nanoseconds rather than microseconds.
    """
    lines: list[str] = []
    _emit(cls, "e0", 1, lines, frozenset())
    if not lines:
        walker: Walker = _no_errors
    else:
        source = "def walk(e0, out):\n" + "\n".join(lines) + "\n"
        namespace: dict[str, Any] = {}
        exec(compile(source, f"<error walker for {cls.__qualname__}>", "exec"), namespace)
        walker = namespace["walk"]
    _WALKERS[cls] = walker
    return walker


def _emit(cls: type, var: str, depth: int, lines: list[str], seen: frozenset[type]) -> None:
    """Append the statements that collect the error codes of entity `var` of type `cls`."""
    if not dataclasses.is_dataclass(cls) or cls in seen:
        return
    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        hints = {}
    pad = "    " * depth
    for field in dataclasses.fields(cls):
        name = field.name
        if not name.isidentifier():
            continue
        hint = hints.get(name, field.type)
        if hint is ErrorCode or name == "error_code":
            lines.append(f"{pad}if {var}.{name}:")
            lines.append(f"{pad}    out.append(int({var}.{name}))")
            continue
        found = _entity_types(hint)
        if found is None:
            continue
        child_cls, many = found
        child = f"e{depth}"
        body: list[str] = []
        _emit(child_cls, child, depth + 1, body, seen | {cls})
        if not body:
            continue
        if many:
            lines.append(f"{pad}for {child} in {var}.{name}:")
        else:
            lines.append(f"{pad}{child} = {var}.{name}")
            lines.append(f"{pad}if {child} is not None:")
        lines.extend(body)


def error_name(code: int) -> str:
    """Kafka's name for an error code, as clients print it (`unknown_topic_or_partition`)."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"error_{code}"
