"""`rafka bench` end to end with tiny counts against a real broker: the JSON has every field.

Benchmarks themselves never run in CI; this only proves the command works and reports.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.support.broker_process import BrokerProcess

THROUGHPUT_FIELDS = {
    "workload", "messages", "expected", "bytes", "seconds", "msgs_per_s", "mb_per_s", "errors",
    "capped", "client_cpu_pct", "broker_cpu_s", "broker_cpu_pct", "broker_cpu_s_per_gb",
    "broker_peak_rss_mb", "avg_batch_bytes", "passes",
}
LATENCY_FIELDS = {
    "workload", "sent", "received", "rate", "seconds", "linger_ms", "p50_ms", "p90_ms", "p99_ms",
    "p999_ms", "max_ms", "mean_ms", "sender_lag_p99_ms", "sender_lag_max_ms", "elapsed_seconds",
    "broker_cpu_s", "broker_cpu_pct", "broker_peak_rss_mb",
}


def rafka_bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rafka", "bench", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_all_workloads_json(shared_broker: BrokerProcess) -> None:
    assert shared_broker.proc is not None
    done = rafka_bench(
        "--bootstrap", shared_broker.bootstrap, "--count", "3000", "--size", "100",
        "--partitions", "2", "--rate", "200", "--latency-seconds", "1", "--max-seconds", "30",
        "--broker-pid", str(shared_broker.proc.pid), "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tool"] == "rafka bench"
    assert report["via"] == "kafka"
    assert report["errors"] == 0
    assert {"confluent_kafka", "librdkafka"} <= set(report["client"])
    assert {"cpus", "kernel", "python", "loadavg_start", "loadavg_end"} <= set(report["machine"])
    assert report["config"]["partitions"] == 2
    results = report["results"]
    assert set(results) == {"produce", "consume", "latency"}
    for name in ("produce", "consume"):
        r = results[name]
        assert set(r) >= THROUGHPUT_FIELDS, name
        assert r["messages"] == 3000 and r["bytes"] == 300_000 and not r["capped"]
        assert r["msgs_per_s"] > 0 and r["seconds"] > 0
        assert r["broker_cpu_s"] is not None and r["broker_peak_rss_mb"] > 0
    lat = results["latency"]
    assert set(lat) >= LATENCY_FIELDS
    assert lat["sent"] == 200 and lat["received"] == 200
    assert 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"]


def test_consume_alone_fills_the_topic_first(shared_broker: BrokerProcess) -> None:
    done = rafka_bench("consume", "-b", shared_broker.bootstrap, "-n", "1500", "-s", "1KiB",
                       "--json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert set(results) == {"consume"}
    assert results["consume"]["messages"] == 1500
    assert results["consume"]["bytes"] == 1500 * 1024
    assert results["consume"]["broker_cpu_s"] is None  # no --broker-pid


@pytest.mark.parametrize(("partitions", "size"), [(1, "100"), (3, "1KiB")])
def test_raw_fetch_consumer_reads_what_was_produced(shared_broker: BrokerProcess, partitions: int,
                                                    size: str) -> None:
    assert shared_broker.proc is not None
    done = rafka_bench("produce", "consume", "-b", shared_broker.bootstrap, "-n", "5000",
                       "-s", size, "-p", str(partitions), "--consumer", "fetch",
                       "--broker-pid", str(shared_broker.proc.pid), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["config"]["consumer"] == "fetch" and report["errors"] == 0
    produced, consumed = report["results"]["produce"], report["results"]["consume"]
    assert produced["messages"] == 5000
    # The raw Fetch consumer re-reads the topic until 1 s of reading is timed: every pass
    # counts every message once.
    passes = consumed["passes"]
    assert passes >= 1
    assert consumed["messages"] == produced["messages"] * passes
    assert consumed["bytes"] == produced["bytes"] * passes
    assert set(consumed) >= THROUGHPUT_FIELDS
    assert not consumed["capped"] and consumed["seconds"] > 0
    assert consumed["client_cpu_pct"] is not None and consumed["broker_cpu_s"] is not None


def test_table_output(shared_broker: BrokerProcess) -> None:
    done = rafka_bench("produce", "-b", shared_broker.bootstrap, "-n", "500", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "msgs/s" in done.stdout and "produce" in done.stdout


def test_bad_arguments_exit_2() -> None:
    assert rafka_bench("--size", "4").returncode == 2
    assert rafka_bench("nonsense").returncode == 2
    assert rafka_bench("--consumer", "nonsense").returncode == 2
    done = rafka_bench("--via", "grpc", "--consumer", "fetch")
    assert done.returncode == 2 and "needs --via kafka" in done.stderr


def test_via_grpc(shared_broker: BrokerProcess) -> None:
    target = getattr(shared_broker, "grpc_target", None)
    if target is None or importlib.util.find_spec("rafka.client") is None:
        pytest.skip("this build has no gRPC front door / client")
    done = rafka_bench("--via", "grpc", "-b", target, "-n", "2000", "-p", "2", "--rate", "100",
                       "--latency-seconds", "1", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["via"] == "grpc" and report["errors"] == 0
    results = report["results"]
    assert results["produce"]["messages"] == 2000
    assert results["consume"]["messages"] == 2000
    assert results["latency"]["received"] == 100
