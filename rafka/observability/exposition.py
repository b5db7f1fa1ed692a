"""Prometheus text exposition (format 0.0.4) of metric families, written for speed.

prometheus-client's `generate_latest()` validates and escapes every label name of every
sample, which at a thousand partitions (six samples each) costs more than the whole budget of
a scrape. The families here come from our own collector, whose metric and label names are
constants, so only label values need escaping. The output is what `generate_latest()` writes
for the same families, except that integers are written as integers ("30", not "30.0"); a test
parses both and compares them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.samples import Sample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_TYPES = {"counter": "counter", "gauge": "gauge", "histogram": "histogram", "info": "gauge"}


def _escape_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _number(value: float) -> str:
    if type(value) is int:
        return str(value)
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if value != value:
        return "NaN"
    return repr(float(value))


class BulkFamily(Metric):
    """A counter or gauge family with many samples sharing its label names (one per
    partition, say), kept as two columns: label values and sample values. prometheus-client
    sees ordinary `samples` (built when asked for); `render` writes the columns without
    building them.

    Columns rather than one (labels, value) tuple per row: a scrape of a thousand partitions
    would otherwise keep thousands of fresh tuples alive at once, enough to set off the
    garbage collector's young-generation passes (and now and then a full collection of the
    whole broker heap, 80-100 ms here) in the middle of the scrape. The label tuples can be
    the collector's own long-lived ones.
    """

    def __init__(self, name: str, documentation: str, kind: str, labels: Sequence[str]) -> None:
        super().__init__(name, documentation, kind)
        self.labelnames = tuple(labels)
        self.label_values: list[tuple[str, ...]] = []
        self.values: list[float] = []
        self.sample_name = name + "_total" if kind == "counter" else name

    def add(self, values: tuple[str, ...], value: float) -> None:
        self.label_values.append(values)
        self.values.append(value)

    @property
    def samples(self) -> list[Sample]:
        names = self.labelnames
        return [
            Sample(self.sample_name, dict(zip(names, values, strict=True)), value, None)
            for values, value in zip(self.label_values, self.values, strict=True)
        ]

    @samples.setter
    def samples(self, value: Any) -> None:
        """`Metric.__init__` assigns an empty list; the columns are the samples."""


def _render_bulk(family: BulkFamily, append: Any) -> None:
    template = (
        family.sample_name
        + "{{"
        + ",".join(f'{name}="{{}}"' for name in family.labelnames)
        + "}} {}\n"
    )
    fill = template.format
    escape, number = _escape_value, _number
    for values, value in zip(family.label_values, family.values, strict=True):
        append(fill(*map(escape, values), number(value)))


def render(families: Iterable[Metric]) -> str:
    out: list[str] = []
    append = out.append
    escape, number = _escape_value, _number
    for family in families:
        name = family.name + "_total" if family.type == "counter" else family.name
        doc = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
        append(f"# HELP {name} {doc}\n# TYPE {name} {_TYPES.get(family.type, 'untyped')}\n")
        if isinstance(family, BulkFamily):
            _render_bulk(family, append)
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels:
                inner = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
                append(f"{sample.name}{{{inner}}} {number(sample.value)}\n")
            else:
                append(f"{sample.name} {number(sample.value)}\n")
    return "".join(out)
