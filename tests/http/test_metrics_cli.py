"""`rafka metrics` prints the broker's scrape as tables (and JSON) with the right figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.http.conftest import consume_all, create_topic, produce, unique
from tests.support.broker_process import BrokerProcess


def _rafka(*args: str) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so that no name in the tables is folded onto two lines.
    env = {**os.environ, "COLUMNS": "220"}
    return subprocess.run(
        [sys.executable, "-m", "rafka", *args], capture_output=True, text=True, timeout=60,
        env=env,
    )


def test_metrics_table_and_json(http_broker: BrokerProcess) -> None:
    topic, group = unique("cli"), unique("cli-group")
    create_topic(http_broker.bootstrap, topic, partitions=2)
    produce(http_broker.bootstrap, topic, [(0, None, b"12345", [])] * 6 + [(1, None, b"x", [])])
    assert consume_all(http_broker.bootstrap, topic, group, 7) == 7
    produce(http_broker.bootstrap, topic, [(1, None, b"y", [])] * 3)

    result = _rafka("metrics", "--url", http_broker.http_url, "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    row = next(t for t in figures["topics"] if t["topic"] == topic)
    assert (row["partitions"], row["messages_stored"], row["messages_in"]) == (2, 10, 10)
    assert row["messages_out"] == 7
    assert row["oldest_message_age_seconds"] is not None
    lags = {(g["topic"], g["partition"]): (g["committed_offset"], g["lag"])
            for g in figures["groups"] if g["group"] == group}
    assert lags == {(topic, 0): (6, 0), (topic, 1): (1, 3)}
    produce_api = next(a for a in figures["apis"] if a["api"] == "Produce")
    assert produce_api["requests"] >= 2 and produce_api["mean_ms"] > 0
    assert figures["ready"] is True

    table = _rafka("metrics", "--url", http_broker.http_url, "--partitions")
    assert table.returncode == 0, table.stderr
    for heading in ("total messages stored", "total bytes consumed", "oldest message age",
                    "Topics", "Partitions", "Consumer groups", "Kafka requests", group):
        assert heading in table.stdout


def test_unreachable_broker_is_an_error() -> None:
    result = _rafka("metrics", "--url", "http://127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot read" in result.stderr
