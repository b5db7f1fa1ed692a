"""Helpers for the HTTP tests: GET over a real socket, and scrapes parsed by prometheus-client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str, method: str = "GET", body: bytes | None = None, content_type: str | None = None
) -> Reply:
    req = urllib.request.Request(url, data=body, method=method)
    if content_type is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read())


def get_json(url: str) -> Any:
    reply = request(url)
    assert reply.status == 200, (url, reply.status, reply.body)
    return reply.json()


@dataclass
class Scrape:
    """Samples by metric name (as exposed, with `_total`, `_bucket`... suffixes)."""

    families: set[str] = field(default_factory=set)
    types: dict[str, str] = field(default_factory=dict)
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        """The one sample of `name` whose labels include `labels`; KeyError if none."""
        found = [v for have, v in self.samples.get(name, []) if labels.items() <= have.items()]
        if len(found) != 1:
            raise KeyError(f"{len(found)} samples of {name} with {labels}")
        return found[0]

    def get(self, name: str, default: float = 0.0, **labels: str) -> float:
        try:
            return self.value(name, **labels)
        except KeyError:
            return default

    def all(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        samples = self.samples.get(name, [])
        return [(have, v) for have, v in samples if labels.items() <= have.items()]


    def series_names(self) -> set[str]:
        """Every series name the families can have, whether or not they have samples yet."""
        names: set[str] = set()
        for family, kind in self.types.items():
            if kind == "counter":
                names.add(family + "_total")
            elif kind == "histogram":
                names.update(family + suffix for suffix in ("_bucket", "_sum", "_count"))
            else:
                names.add(family)
        return names


def parse(text: str) -> Scrape:
    scrape = Scrape()
    for family in text_string_to_metric_families(text):
        scrape.families.add(family.name)
        scrape.types[family.name] = family.type
        for sample in family.samples:
            scrape.samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return scrape


def scrape(base_url: str) -> Scrape:
    reply = request(base_url + "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    return parse(reply.body.decode())
