"""`rafka produce|consume|topics`, the original's console scripts, and the four demo scripts,
run as a user runs them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rafka.cli.main import main
from rafka.cli.original import broker_argv
from tests.grpc.helpers import consecutive_free_ports, new_topic, start_broker
from tests.support.broker_process import BrokerProcess

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(
    name: str, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(BIN / name), *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def rafka(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> tuple[str, str]:
    """Run `rafka ARGS` in this process (a subprocess would spend a second importing)."""
    assert main(list(args)) == code
    captured = capsys.readouterr()
    return captured.out, captured.err


@pytest.fixture(scope="module")
def cli_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = start_broker(tmp_path_factory.mktemp("cli") / "data")
    try:
        yield process
    finally:
        process.stop()


def test_produce_and_consume(
    cli_broker: BrokerProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    b, topic = cli_broker.grpc_target, new_topic()
    out, _ = rafka(capsys, "produce", "-b", b, "-t", topic, "-m", "hello", "-k", "k1")
    assert f"partition 0 at offset 0 (message id {topic}/0/0)" in out
    rafka(capsys, "produce", "-b", b, "-t", topic, "--count", "50", "-q")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a:1\nb:2\n")))
    rafka(capsys, "produce", "-b", b, "-t", topic, "-K", ":", "-H", "h=v")
    out, _ = rafka(
        capsys, "consume", "-b", b, "-t", topic, "--from", "earliest", "--timeout", "1",
        "--format", "json",
    )  # fmt: skip
    messages = [json.loads(line) for line in out.splitlines()]
    assert len(messages) == 53
    assert (messages[0]["payload"], messages[0]["key"]) == ("hello", "k1")
    assert [(m["key"], m["payload"], m["headers"]) for m in messages[-2:]] == [
        ("a", "1", {"h": "v"}),
        ("b", "2", {"h": "v"}),
    ]
    # A consumer id resumes; --from OFFSET starts there.
    first, _ = rafka(capsys, "consume", "-b", b, "-t", topic, "-c", "me", "-n", "2")
    again, _ = rafka(capsys, "consume", "-b", b, "-t", topic, "-c", "me", "-n", "1")
    assert first.splitlines() == ["hello", "message-0"] and again.splitlines() == ["message-1"]
    at, _ = rafka(capsys, "consume", "-b", b, "-t", topic, "--from", "52", "--timeout", "1")
    assert at.splitlines() == ["2"]


def test_progress_bar_and_errors(
    cli_broker: BrokerProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    b = cli_broker.grpc_target
    source = tmp_path / "lines.txt"
    source.write_text("".join(f"line {i}\n" for i in range(300)))
    out, err = rafka(capsys, "produce", "-b", b, "-t", new_topic(), "--file", str(source))
    assert "300/300" in err and "published 300 messages" in out
    _, err = rafka(capsys, "produce", "-b", b, "-t", "bad name", "-m", "x", code=1)
    assert "INVALID_ARGUMENT" in err and "bad name" in err
    _, err = rafka(capsys, "topics", "describe", new_topic(), "-b", b, code=1)
    assert "NOT_FOUND" in err


def test_topics_commands(cli_broker: BrokerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    b, topic = cli_broker.grpc_target, new_topic()
    created, _ = rafka(
        capsys, "topics", "create", topic, "-b", b, "-p", "3", "--config", "retention.ms=60000"
    )
    assert f"created topic {topic} with 3 partitions" in created
    listed = json.loads(rafka(capsys, "topics", "list", "-b", b, "--json")[0])
    assert any(t["name"] == topic and t["partitions"] == 3 for t in listed)
    table, _ = rafka(capsys, "topics", "describe", topic, "-b", b)
    assert "retention.ms" in table and "60000" in table
    described = json.loads(rafka(capsys, "topics", "describe", topic, "-b", b, "--json")[0])
    assert [p["partition"] for p in described["partitions"]] == [0, 1, 2]
    rafka(capsys, "topics", "delete", topic, "-b", b)
    assert topic not in rafka(capsys, "topics", "list", "-b", b)[0]


def test_original_tools(cli_broker: BrokerProcess) -> None:
    port = str(cli_broker.grpc_port)
    topic = new_topic()
    tool("start_producer", "--brokers", cli_broker.grpc_target, "--topic", topic,
         "--message", "Hi", "--key", "key-1")  # fmt: skip
    out = tool("start_consumer", "--port", port, "--topic", topic, "--max-messages", "1").stdout
    assert out.strip() == f"[{topic}/0/0] key=key-1 Hi"
    metrics = tool("check_metrics", "--port", port).stdout
    assert "messages stored" in metrics and topic in metrics
    figures = json.loads(tool("check_metrics", "--port", port, "--json").stdout)
    assert int(figures[cli_broker.grpc_target]["total_messages"]) >= 1
    for name in ("start_broker", "start_producer", "start_consumer", "check_metrics"):
        rejected = tool(name, "--no-such-flag", check=False)
        assert rejected.returncode == 2
        assert "usage:" in rejected.stderr and "--no-such-flag" in rejected.stderr


def test_start_broker_flags_map_to_rafka_broker() -> None:
    import argparse

    args = argparse.Namespace(
        port=50052, partition=1, total_partitions=3, peers="h:1,h:2,h:3",
        retention_seconds=60, data_dir=None, kafka_port=None, http_port=None,
        host=None, storage=None, log_level=None, set=[],
    )  # fmt: skip
    argv = broker_argv(args)
    assert argv[:11] == [
        "broker", "--grpc-port", "50052", "--data-dir", "./data/partition-1",
        "--kafka-port", "9093", "--http-port", "8081", "--broker-id", "1",
    ]  # fmt: skip
    assert argv[11:] == [
        "--partition", "1", "--total-partitions", "3", "--peers", "h:1,h:2,h:3",
        "--kafka-peers", "h:9092,h:9093,h:9094", "--retention-seconds", "60",
    ]  # fmt: skip
    # An explicit Kafka port breaks the 9092 + P rule, so the peers' ports are not guessed.
    args.kafka_port = 19093
    assert "--kafka-peers" not in broker_argv(args)


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    ["helloworld.sh", "partitioned_demo.sh", "retention_demo.sh", "offset_tracking_demo.sh"],
)
def test_demo_script(script: str, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAFKA_")},
        "DEMO_BIN": str(BIN),
        "DEMO_DIR": str(tmp_path / "demo"),
        "BASE_PORT": str(consecutive_free_ports(3)),
    }
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / script)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo OK" in result.stdout
    # kill.sh ran on exit: no PID file, no broker left behind.
    assert not list((tmp_path / "demo" / "pids").glob("*.pid"))
