"""The final tables of `rafka bench` (rich) and its JSON."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from rafka.bench._results import Latency, Throughput
from rafka.bench._runner import BenchReport


def _num(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def _throughput_table(rows: list[Throughput]) -> Table:
    table = Table(title="throughput (MB = 10^6 payload bytes; CPU % of one core)")
    for col in ("workload", "msgs", "secs", "msgs/s", "MB/s", "errors", "client CPU%",
                "broker CPU%", "broker CPU s/GB", "broker RSS MB"):
        table.add_column(col, justify="left" if col == "workload" else "right")
    for r in rows:
        d = r.to_dict()
        table.add_row(
            r.workload + (" (capped)" if r.capped else ""),
            f"{r.messages:,}", f"{r.seconds:.2f}", _num(r.msgs_per_s, 0), _num(r.mb_per_s),
            str(r.errors), _num(d["client_cpu_pct"], 0), _num(d["broker_cpu_pct"], 0),
            _num(d["broker_cpu_s_per_gb"]), _num(d["broker_peak_rss_mb"]),
        )
    return table


def _latency_table(r: Latency) -> Table:
    table = Table(title=f"end-to-end latency in ms from the scheduled send time: "
                        f"{r.rate:,} msg/s for {r.seconds:g} s, linger.ms={r.linger_ms}")
    for col in ("sent", "received", "p50", "p90", "p99", "p99.9", "max", "mean",
                "sender lag p99", "broker CPU%"):
        table.add_column(col, justify="right")
    d = r.to_dict()
    table.add_row(
        f"{r.sent:,}", f"{r.received:,}",
        *(_num(v, 2) for v in (r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms, r.max_ms, r.mean_ms,
                               r.sender_lag_p99_ms)),
        _num(d["broker_cpu_pct"], 0),
    )
    return table


def render(report: BenchReport, console: Console) -> None:
    w = report.workload
    console.print(
        f"[bold]rafka bench[/bold] via {report.via} -> {report.address}: {w.size} B x "
        f"{w.count:,}, {w.partitions} partition(s), acks={w.acks}, linger.ms={w.linger_ms}, "
        f"compression={w.compression}" + (f", batch.size={w.batch_bytes}" if w.batch_bytes else "")
        + (f", consumer={w.consumer}" if w.consumer != "librdkafka" else "")
    )
    rows = [r for r in report.results.values() if isinstance(r, Throughput)]
    if rows:
        console.print(_throughput_table(rows))
    for r in report.results.values():
        if isinstance(r, Latency):
            console.print(_latency_table(r))
    if report.errors:
        console.print(f"[red]{report.errors} message(s) failed or missing[/red]")


def to_json(report: BenchReport) -> str:
    return json.dumps(report.to_dict(), indent=2)
