"""docs/benchmarks.md and docs/benchmarks.png from one result of benchmarks/run.py.

Every target of issue 7 gets a row "met" / "not met" / "not measured", computed from the figures
in the same run. Notes after the KEEP marker in the existing markdown (profiles, analysis) are
carried over when the file is rewritten.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

RAFKA = "rafka-disk"
RAFKA_MEM = "rafka-memory"
TANSU = "tansu-memory"
PEER_ORDER = ("rafka-disk", "rafka-memory", "tansu-memory", "redis", "redis-aof", "nats-js")
KEEP = "<!-- Everything below this line is kept when benchmarks/run.py rewrites this file. -->"
DEFAULT_NOTES = """
## Where the remaining cost is

Profiles of the hot path (py-spy / pyinstrument) go here, next to the figures above, so the
next optimisation step is obvious. Not filled in by the benchmark run.
"""

Row = dict[str, Any]


# ------------------------------------------------------------------------------ lookups
class Figures:
    """Index over the harness medians and our medians of one result."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self.h: list[Row] = result["harness"]["medians"]
        self.o: list[Row] = result.get("ours", [])
        self.physical: dict[str, Any] = result["harness"].get("physical") or {}
        self.brokers = [b for b in PEER_ORDER if any(m["peer"] == b for m in self.h)]
        self.kafka = [b for b in (RAFKA, RAFKA_MEM, TANSU) if b in self.brokers]
        self.sizes = sorted({m["size"] for m in self.h if m["phase"] == "produce"})

    def harness(self, peer: str, phase: str, size: int, parts: int, acks: str = "1",
                variant: str = "") -> Row | None:
        if not peer.startswith(("rafka", "tansu")):
            acks = "n/a"
        return next((m for m in self.h if m["peer"] == peer and m["phase"] == phase
                     and m["size"] == size and m["parts"] == parts and m["acks"] == acks
                     and m["variant"] == variant), None)

    def ours(self, broker: str, kind: str, workload: str, size: int | None = None,
             parts: int | None = None, linger: int | None = None) -> Row | None:
        return next((m for m in self.o if m["broker"] == broker and m["kind"] == kind
                     and m["workload"] == workload and (size is None or m["size"] == size)
                     and (parts is None or m["parts"] == parts)
                     and (linger is None or m["linger"] == linger)), None)


def gb(row: Row | None) -> float | None:
    v = get(row, "bytes")
    return v / 1e9 if v is not None else None


def get(row: Row | None, key: str) -> float | None:
    if row is None:
        return None
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def num(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def times(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**not met**")


def all_met(oks: Iterable[bool | None]) -> bool | None:
    vals = list(oks)
    if not vals or any(v is None for v in vals):
        return None
    return all(bool(v) for v in vals)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def cell_name(size: int, parts: int, acks: str | None = None) -> str:
    label = f"{size} B" if size < 1024 else f"{size // 1024} KiB"
    label += f", {parts} part."
    return label + (f", acks={acks}" if acks else "")


# ------------------------------------------------------------------------------ targets
def targets(f: Figures) -> list[tuple[str, str, bool | None]]:
    """(target, what was measured, met?) for every target of issue 7."""
    out: list[tuple[str, str, bool | None]] = []
    cells = [(s, p, a) for s in f.sizes for p in (1, 6) for a in ("1", "all")]

    # Produce: msgs/s >= Tansu's on every harness workload, CPU s/GB <= half of Tansu's.
    rates = [(ratio(get(f.harness(RAFKA, "produce", s, p, a), "msgs_s"),
                    get(f.harness(TANSU, "produce", s, p, a), "msgs_s")), cell_name(s, p, a))
             for s, p, a in cells]
    cpus = [(ratio(get(f.harness(RAFKA, "produce", s, p, a), "broker_cpu_s_per_gb"),
                   get(f.harness(TANSU, "produce", s, p, a), "broker_cpu_s_per_gb")),
             cell_name(s, p, a)) for s, p, a in cells]
    worst_rate = min(((q, c) for q, c in rates if q is not None), default=None)
    worst_cpu = max(((q, c) for q, c in cpus if q is not None), default=None)
    out.append((
        "Produce msgs/s >= Tansu on every harness workload (8 cells)",
        f"worst rafka-disk / Tansu: {times(worst_rate[0])} ({worst_rate[1]})"
        if worst_rate else "-", all_met(None if q is None else q >= 1 for q, _ in rates)))
    out.append((
        "Produce broker CPU s/GB <= 0.5x Tansu's (every cell)",
        f"worst rafka-disk / Tansu: {times(worst_cpu[0])} ({worst_cpu[1]})"
        if worst_cpu else "-", all_met(None if q is None else q <= 0.5 for q, _ in cpus)))

    # Consume: MB/s >= 2x Tansu and >= Redis on every workload. The verdict is the broker's
    # serving rate (raw Fetch client, both Kafka brokers read the same way); the librdkafka
    # consumer's figures are kept, labelled, because they are what an application sees.
    serving = serving_rows(f)
    if serving:
        vs_tansu = [(ratio(r["mb"].get(RAFKA), r["mb"].get(TANSU)), r["cell"]) for r in serving]
        vs_redis = [(ratio(r["mb"].get(RAFKA), r["redis"]), r["cell"]) for r in serving]
        out.append((
            "Consume MB/s >= 2x Tansu on every workload: **broker serving rate**, raw Fetch "
            "client for both",
            "rafka-disk/Tansu " + listed(vs_tansu),
            all_met(None if v is None else v >= 2 for v, _ in vs_tansu)))
        out.append((
            "Consume MB/s >= Redis on every workload: Rafka by the raw Fetch client, Redis by "
            "the harness's redis-py client (no raw client for Redis)",
            "rafka-disk/Redis " + listed(vs_redis),
            all_met(None if v is None else v >= 1 for v, _ in vs_redis)))
    else:
        out.append(("Consume MB/s >= 2x Tansu and >= Redis on every workload: broker serving "
                    "rate (raw Fetch client)",
                    "not run in this run (the result predates the raw Fetch client)", None))
    rows = consume_rows(f)
    lib_tansu = [(ratio(r["ours"].get(RAFKA), r["ours"].get(TANSU)), cell_name(r["size"],
                                                                              r["parts"]))
                 for r in rows]
    lib_redis = [(ratio(r["ours"].get(RAFKA), r["harness"].get("redis")),
                  cell_name(r["size"], r["parts"])) for r in rows]
    out.append((
        "Consume MB/s >= 2x Tansu, through the **librdkafka consumer** (rafka.bench timing; "
        "the Python client, not the broker, sets the pace at 100 B)",
        "rafka-disk/Tansu " + listed(lib_tansu),
        all_met(None if v is None else v >= 2 for v, _ in lib_tansu)))
    out.append((
        "Consume MB/s >= Redis, through the **librdkafka consumer** (Redis: harness)",
        "rafka-disk/Redis " + listed(lib_redis),
        all_met(None if v is None else v >= 1 for v, _ in lib_redis)))

    # Latency at 5,000 msg/s, linger.ms=0: p50 <= 1 ms, p99 <= 2 ms (per-message receiver).
    lat = f.ours(RAFKA, "latency", "latency", linger=0)
    p50, p99 = get(lat, "p50_ms"), get(lat, "p99_ms")
    out.append((
        "End-to-end latency, 5,000 msg/s, linger.ms=0: p50 <= 1 ms and p99 <= 2 ms",
        f"p50 {num(p50, 2)} ms, p99 {num(p99, 2)} ms",
        None if p50 is None or p99 is None else p50 <= 1 and p99 <= 2))

    # Large batches: 1 MiB produce requests >= 50% of the page-cache write bandwidth.
    big = f.ours(RAFKA, "large", "produce")
    shares = large_shares(f, RAFKA)
    if shares is not None:
        (new, new_bar, new_share), (again, again_bar, again_share) = shares
        out.append((
            "1 MiB produce requests >= 50% of the page-cache write bandwidth (dd beside the "
            "cell, both ways: into new pages, and rewriting just-freed pages)",
            f"new pages: {num(new)} MB/s of {num(new_bar)} = {_pct(new_share)}; just-freed "
            f"pages: {num(again)} MB/s of {num(again_bar)} = {_pct(again_share)}",
            None if new_share is None or again_share is None
            else new_share >= 0.5 and again_share >= 0.5))
    else:  # results from before the bar was measured beside the cell
        page = page_cache_bandwidth(f)
        share = ratio(get(big, "mb_per_s"), page)
        out.append((
            "1 MiB produce requests >= 50% of the page-cache write bandwidth",
            f"{num(get(big, 'mb_per_s'))} MB/s of {num(page)} MB/s = {_pct(share)}",
            None if share is None else share >= 0.5))

    # Memory: peak RSS <= 150 MB through the whole suite, not growing with data stored.
    peak, where = peak_rss(f, RAFKA)
    big_rss = get(big, "broker_peak_rss_mb")
    out.append((
        "Broker peak RSS <= 150 MB through the full suite",
        f"max {num(peak)} MB ({where})", None if peak is None else peak <= 150))
    stored = get(big, "bytes")
    out.append((
        "Memory does not grow with the amount stored",
        f"{num(big_rss)} MB after storing {num(stored / 1e9 if stored else None, 2)} GB in one "
        "partition (1 MiB-request cell)",
        None if big_rss is None else big_rss <= 150))

    # Disk engine >= 0.8x the in-memory engine's throughput.
    dm = disk_vs_memory(f)
    worst = min((v for _, v in dm if v is not None), default=None)
    out.append((
        "Disk engine >= 0.8x the in-memory engine's throughput (every cell)",
        f"worst disk/memory {times(worst)}" if worst is not None else "-",
        all_met(None if v is None else v >= 0.8 for _, v in dm) if dm else None))

    for workload, goal, label in (("produce", 150_000, "gRPC PublishBatch >= 150k msg/s of 100 B"),
                                  ("consume", 300_000, "gRPC Consume stream >= 300k msg/s")):
        rate = get(f.ours(RAFKA, "grpc", workload), "msgs_per_s")
        out.append((label, "not run in this run" if rate is None else
                    f"{num(rate, 0)} msg/s (1 partition, broker CPU-bound)",
                    None if rate is None else rate >= goal))
    return out


def page_cache_bandwidth(f: Figures) -> float | None:
    """For results without a bar beside the large cell: the better of the harness's two dd
    figures (see benchmarks/page_cache.py for why they differ)."""
    vals = [f.physical.get(k) for k in ("disk_write_1MiB_pagecache_MB_s",
                                        "disk_write_1MiB_fdatasync_at_end_MB_s")]
    nums = [float(v) for v in vals if isinstance(v, (int, float))]
    return max(nums) if nums else None


Share = tuple[float | None, float | None, float | None]


def large_shares(f: Figures, broker: str) -> tuple[Share, Share] | None:
    """((MB/s, dd MB/s, share) into new pages, the same into just-freed pages) for a broker's
    1 MiB-request cell, against the dd bars measured beside it; None without those bars."""
    bar = f.ours(broker, "large", "bar")
    if bar is None:
        return None
    out = []
    for workload, key in (("produce", "dd_new_pages_mb_per_s"),
                          ("produce-reused-pages", "dd_reused_pages_mb_per_s")):
        mb, dd = get(f.ours(broker, "large", workload), "mb_per_s"), get(bar, key)
        out.append((mb, dd, ratio(mb, dd)))
    return out[0], out[1]


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def listed(values: list[tuple[float | None, str]]) -> str:
    """"1.22x (100 B, 1 part.), ..." for the targets table."""
    return "; ".join(f"{times(v)} ({cell})" for v, cell in values)


def serving_rows(f: Figures) -> list[dict[str, Any]]:
    """Per consume cell read by the raw Fetch client: the Kafka brokers' rows (MB/s etc.) and
    the harness's Redis MB/s. Empty when the result has no such cells (older results)."""
    if not any(m["kind"] == "fetch" for m in f.o):
        return []
    rows = []
    for s in f.sizes:
        for p in (1, 6):
            found = {b: f.ours(b, "fetch", "consume", s, p) for b in f.kafka}
            rows.append({
                "size": s, "parts": p, "cell": cell_name(s, p), "found": found,
                "mb": {b: get(m, "mb_per_s") for b, m in found.items()},
                "redis": get(f.harness("redis", "consume", s, p), "mb_s"),
            })
    return rows


def consume_rows(f: Figures) -> list[dict[str, Any]]:
    """Per consume cell: MB/s from our timing (Kafka brokers) and from the harness (all)."""
    rows = []
    for s in f.sizes:
        for p in (1, 6):
            rows.append({
                "size": s, "parts": p,
                "ours": {b: get(f.ours(b, "consume", "consume", s, p), "mb_per_s")
                         for b in f.kafka},
                "client_cpu": {b: get(f.ours(b, "consume", "consume", s, p), "client_cpu_pct")
                               for b in f.kafka},
                "harness": {b: get(f.harness(b, "consume", s, p), "mb_s") for b in f.brokers},
            })
    return rows


def peak_rss(f: Figures, broker: str) -> tuple[float | None, str]:
    best: tuple[float | None, str] = (None, "")
    for m in f.h:
        v = get(m, "broker_rss_mb")
        if m["peer"] == broker and v is not None and (best[0] is None or v > best[0]):
            best = (v, f"harness {m['phase']} {cell_name(m['size'], m['parts'])}")
    for m in f.o:
        v = get(m, "broker_peak_rss_mb")
        if m["broker"] == broker and v is not None and (best[0] is None or v > best[0]):
            best = (v, f"rafka.bench {m['kind']} {cell_name(m['size'], m['parts'])}")
    return best


def disk_vs_memory(f: Figures) -> list[tuple[str, float | None]]:
    out: list[tuple[str, float | None]] = []
    for s in f.sizes:
        for p in (1, 6):
            for a in ("1", "all"):
                out.append((f"produce {cell_name(s, p, a)}", ratio(
                    get(f.harness(RAFKA, "produce", s, p, a), "msgs_s"),
                    get(f.harness(RAFKA_MEM, "produce", s, p, a), "msgs_s"))))
            out.append((f"consume {cell_name(s, p)} (librdkafka consumer)", ratio(
                get(f.ours(RAFKA, "consume", "consume", s, p), "mb_per_s"),
                get(f.ours(RAFKA_MEM, "consume", "consume", s, p), "mb_per_s"))))
            out.append((f"consume {cell_name(s, p)} (raw Fetch client)", ratio(
                get(f.ours(RAFKA, "fetch", "consume", s, p), "mb_per_s"),
                get(f.ours(RAFKA_MEM, "fetch", "consume", s, p), "mb_per_s"))))
    out.append(("1 MiB produce requests", ratio(
        get(f.ours(RAFKA, "large", "produce"), "mb_per_s"),
        get(f.ours(RAFKA_MEM, "large", "produce"), "mb_per_s"))))
    return [(k, v) for k, v in out if v is not None] or out


# ------------------------------------------------------------------------------ markdown
def markdown(result: dict[str, Any], json_path: Path | str | None) -> str:
    f = Figures(result)
    h = result["harness"]
    env, mach = h["env"], result["machine"]
    cfg = h["config"]
    la = [result.get("loadavg_start"), result.get("loadavg_mid"), result.get("loadavg_end")]
    L = [
        "# Benchmarks",
        "",
        "> Measured on a shared 2-core VM (load averages below: anything near 2 means other "
        "work was running); cells vary by up to ~40% between runs here. Every target is "
        "judged as a ratio within this one run, never against another run's figures.",
        "",
        f"- Date: {result['date']}; wall time {result['wall_s'] / 60:.0f} min; "
        f"revision {result.get('revision', {}).get('commit', '?')}"
        + (" with uncommitted changes" if result.get("revision", {}).get("dirty") else ""),
        f"- Command: `make bench` = `benchmarks/setup.sh && .venv/bin/python "
        f"{result['command']}`",
        f"- Machine: {mach['cpus']} x {mach['cpu_model'] or 'CPU'}, "
        f"{num(mach.get('mem_gb'), 0)} GB RAM, Linux {mach['kernel']}, Python {mach['python']}",
        "- Load average (1/5/15 min) at start / after the harness / at end: "
        + " / ".join("-" if x is None else ", ".join(f"{v:.2f}" for v in x) for x in la),
        f"- Clients: confluent-kafka {env.get('confluent_kafka')} (librdkafka "
        f"{env.get('librdkafka')}), redis-py {env.get('redis_py')}, nats-py {env.get('nats_py')}",
        f"- Peers: {env.get('tansu')} (`memory://`), {env.get('redis_server')}, "
        f"{env.get('nats_server')}",
        f"- Counts: {', '.join(f'{n:,} x {s} B' for s, n in cfg['sizes'])}; per-phase cap "
        f"{cfg['cap']} s; median of {cfg['repeat']} run(s), repetitions interleaved across "
        "brokers (in part 2 each repetition starts with the next broker); every broker started "
        "fresh (empty data dir) for every cell.",
        f"- Raw data: `{json_path}`" if json_path else "",
        *(f"- Added later to this result: {', '.join(x['kinds'])} cells on {x['date']}"
          + (f" at revision {x['revision']['commit']}" if x.get("revision") else "")
          + f" with `{x['command']}` (load average "
          f"{', '.join(f'{v:.2f}' for v in x['loadavg_start'])})"
          for x in result.get("added", [])),
        "",
        "Brokers: `rafka-disk` is Rafka with the durable disk engine (default settings: page "
        "cache, fsync every second), `rafka-memory` is `--storage in_memory`. Tansu runs "
        "`memory://` (its build has no durable local engine), Redis without persistence and "
        "with AOF `everysec`, NATS JetStream with file storage. None fsyncs per message. MB = "
        "10^6 payload bytes; CPU % is of one core (200% = both).",
        "",
        "## Targets (issue 7)",
        "",
    ]
    L += table(("target", "measured", "verdict"),
               ((t, m, verdict(ok)) for t, m, ok in targets(f)))
    L += _produce_section(f)
    L += _consume_section(f)
    L += _serving_section(f)
    L += _latency_section(f, cfg)
    L += _grpc_section(f)
    L += _large_section(f)
    L += _memory_section(f)
    L += _disk_memory_section(f)
    L += _physical_section(f)
    L += _errors_section(result)
    L += METHOD.splitlines()
    return "\n".join(L) + "\n"


def _produce_section(f: Figures) -> list[str]:
    L = ["## Produce (../shared/bench harness)", "",
         "msgs/s, with broker CPU seconds per GB in brackets; (cap): the phase cap ended the "
         "run before every message was sent.", ""]
    counts = {s: n for s, n in f.result["harness"]["config"]["sizes"]}
    rows = []
    for s in f.sizes:
        for p in (1, 6):
            for a in ("1", "all"):
                cells = []
                for b in f.brokers:
                    m = f.harness(b, "produce", s, p, a)
                    if m is None or (a == "all" and not b.startswith(("rafka", "tansu"))):
                        cells.append("-")
                    else:
                        capped = " (cap)" if m.get("n", 0) < counts[s] else ""
                        cells.append(f"{num(get(m, 'msgs_s'), 0)} "
                                     f"({num(get(m, 'broker_cpu_s_per_gb'))}){capped}")
                rows.append([cell_name(s, p, a), *cells])
    L += table(("workload", *f.brokers), rows)
    L += ["Ratios of rafka-disk to each peer (msgs/s; CPU s/GB for Tansu: lower is better; "
          "target msgs/s >= 1.00x Tansu and CPU s/GB <= 0.50x Tansu).", ""]
    peers = [b for b in f.brokers if b not in (RAFKA, RAFKA_MEM)]
    rows = []
    for s in f.sizes:
        for p in (1, 6):
            for a in ("1", "all"):
                r = f.harness(RAFKA, "produce", s, p, a)
                line = [cell_name(s, p, a)]
                for b in peers:
                    if a == "all" and b != TANSU:
                        line.append("-")
                        continue
                    line.append(times(ratio(get(r, "msgs_s"),
                                            get(f.harness(b, "produce", s, p, a), "msgs_s"))))
                t = f.harness(TANSU, "produce", s, p, a)
                q = ratio(get(r, "msgs_s"), get(t, "msgs_s"))
                c = ratio(get(r, "broker_cpu_s_per_gb"), get(t, "broker_cpu_s_per_gb"))
                line.append(times(c))
                line.append(verdict(None if q is None or c is None else q >= 1 and c <= 0.5))
                rows.append(line)
    L += table(("workload", *(f"/ {b}" for b in peers), "CPU s/GB / Tansu", "verdict"), rows)
    return L


def _consume_section(f: Figures) -> list[str]:
    L = ["## Consume, through the librdkafka consumer", "",
         "MB/s reading back what the produce phase wrote, from offset 0, with confluent-kafka's "
         "consumer, which hands every message to Python: what an application sees. "
         "**rafka.bench** times each Kafka broker from the first fetch to the last message "
         "(see *Measurement notes*); the harness columns are ../shared/bench's own figures, for "
         "every broker. Redis and NATS are only measured by the harness (their clients have no "
         "such waits). In brackets: the benchmark client's CPU (100% = one core busy): near "
         "100%, the Python consumer, not the broker, sets the pace, which is why the next "
         "section measures the brokers with the raw Fetch client.", ""]
    rows_ = consume_rows(f)
    header = [*(f"{b} (rafka.bench)" for b in f.kafka), *(f"{b} (harness)" for b in f.brokers)]
    L += table(("workload", *header), (
        [cell_name(r["size"], r["parts"]),
         *(f"{num(r['ours'].get(b))} ({num(r['client_cpu'].get(b), 0)}%)" for b in f.kafka),
         *(num(r["harness"].get(b)) for b in f.brokers)] for r in rows_))
    L += ["Ratios of rafka-disk (librdkafka consumer, rafka.bench timing) to each peer; Tansu "
          "by rafka.bench as well, Redis and NATS by the harness. Target: >= 2x Tansu and "
          ">= 1x Redis; this verdict is for the librdkafka figures only.", ""]
    peers = [b for b in f.brokers if b not in (RAFKA, RAFKA_MEM)]
    rows = []
    for r in rows_:
        mine = r["ours"].get(RAFKA)
        line = [cell_name(r["size"], r["parts"])]
        for b in peers:
            other = r["ours"].get(b) if b in f.kafka else r["harness"].get(b)
            line.append(times(ratio(mine, other)))
        vt, vr = ratio(mine, r["ours"].get(TANSU)), ratio(mine, r["harness"].get("redis"))
        line.append(verdict(None if vt is None or vr is None else vt >= 2 and vr >= 1))
        line.append(times(ratio(r["harness"].get(RAFKA), r["harness"].get(TANSU))))
        rows.append(line)
    L += table(("workload", *(f"/ {b}" for b in peers), "verdict (librdkafka)",
                "harness only: rafka-disk / Tansu"), rows)
    return L


def _serving_section(f: Figures) -> list[str]:
    L = ["## Consume, broker serving rate (raw Fetch client)", ""]
    rows_ = serving_rows(f)
    if not rows_:
        return [*L, "Not measured in this run (the result predates the raw Fetch client; "
                "`benchmarks/run.py --add-to RESULT --kinds fetch` adds it).", ""]
    L += ["`rafka bench --consumer fetch`: the same cells as above (produce, then read it all "
          "back from offset 0), read by a client that does what a replica follower does: one "
          "socket per broker with one Fetch in flight (max_wait 500 ms, 10 MiB per response, "
          "1 MiB per partition: Kafka's replica fetcher defaults), records counted from the "
          "batch headers, none decoded. Timed from the first Fetch to the response that "
          "completes the count; one pass over a cell takes ~0.1 s, so the topic is read again "
          "from offset 0 (new connections each pass, untimed) until 1 s of reading has been "
          "timed, and the figure covers every pass. Its client CPU is "
          "the `recv` copy, so the figure is the broker's serving rate (plus loopback TCP). "
          "MB = messages x message size, as everywhere. Tansu is read the same way.", ""]
    rows = []
    for r in rows_:
        for b, m in r["found"].items():
            rows.append([r["cell"], b, num(get(m, "mb_per_s")), num(get(m, "msgs_per_s"), 0),
                         num(get(m, "broker_cpu_pct"), 0), num(get(m, "broker_cpu_s_per_gb"), 2),
                         num(get(m, "client_cpu_pct"), 0),
                         times(ratio(r["mb"].get(b), r["mb"].get(TANSU))) + (
                             " (cap)" if m is not None and m.get("capped") else "")])
    L += table(("workload", "broker", "MB/s", "msgs/s", "broker CPU %", "broker CPU s/GB",
                "client CPU %", "/ tansu-memory"), rows)
    L += ["rafka-disk by the raw Fetch client against the target: >= 2x Tansu (read the same "
          "way) and >= 1x Redis (only measured by the harness's redis-py client, which decodes "
          "every entry in Python: that ratio compares Rafka's serving rate with a client-bound "
          "figure and flatters Rafka).", ""]
    L += table(("workload", "/ tansu-memory", "/ redis (harness)", "verdict"), (
        [r["cell"], times(vt := ratio(r["mb"].get(RAFKA), r["mb"].get(TANSU))),
         times(vr := ratio(r["mb"].get(RAFKA), r["redis"])),
         verdict(None if vt is None or vr is None else vt >= 2 and vr >= 1)] for r in rows_))
    return L


def _latency_section(f: Figures, cfg: dict[str, Any]) -> list[str]:
    L = ["## End-to-end latency", "",
         f"100 B at {cfg['lat_rate']:,} msg/s into one partition; latency = receive time - "
         "*scheduled* send time, so a stalled producer counts. **rafka.bench** receives with "
         "`poll()`, one wake-up per message; the harness's Kafka receiver uses "
         "`consume(1000, 0.1)`, which waits for 1,000 messages or 100 ms, so its Kafka figures "
         "are ~50 ms at the median whatever the broker does (its Redis and NATS receivers do "
         "not batch). Sender lag: how late the producer's send call returned (large = the client "
         "machine, not the broker, was behind).", ""]
    rows = []
    for b in f.kafka:
        for linger in (0, 5):
            m = f.ours(b, "latency", "latency", linger=linger)
            if m is None:
                continue
            rows.append([b, f"linger.ms={linger}", "rafka.bench (poll)",
                         f"{num(get(m, 'received'), 0)}/{num(get(m, 'sent'), 0)}",
                         *(num(get(m, k), 2) for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms",
                                                       "sender_lag_p99_ms", "broker_cpu_pct"))])
    for b in f.brokers:
        for variant in (("linger.ms=0", "linger.ms=5") if b in f.kafka else ("",)):
            m = f.harness(b, "latency", 100, 1, "1", variant)
            if m is None:
                continue
            rows.append([b, variant or "-",
                         "harness (consume(1000, 0.1))" if b in f.kafka else "harness",
                         f"{num(get(m, 'received'), 0)}/{num(get(m, 'sent'), 0)}",
                         *(num(get(m, k), 2) for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms")),
                         "-", "-"])
    L += table(("broker", "producer", "receiver", "received/sent", "p50 ms", "p99 ms",
                "p99.9 ms", "max ms", "sender lag p99 ms", "broker CPU %"), rows)
    return L


def _grpc_section(f: Figures) -> list[str]:
    rows = []
    for b in (RAFKA, RAFKA_MEM):
        for workload in ("produce", "consume"):
            m = f.ours(b, "grpc", workload)
            if m is not None:
                rows.append([b, workload, num(get(m, "msgs_per_s"), 0), num(get(m, "mb_per_s")),
                             num(get(m, "client_cpu_pct"), 0), num(get(m, "broker_cpu_pct"), 0),
                             num(get(m, "broker_cpu_s_per_gb")), num(get(m, "broker_peak_rss_mb"))])
    if not rows:
        return ["## gRPC API", "", "Not measured in this run.", ""]
    L = ["## gRPC API", "",
         "`rafka bench --via grpc`: 100 B messages into one partition over the generated gRPC "
         "stubs, the lowest-overhead path, as librdkafka is for Kafka: prebuilt PublishBatch "
         "requests of 1,000 messages with 4 calls in flight, then one Consume stream from the "
         "earliest offset (1,000 messages per response). Targets: PublishBatch >= 150k msg/s, "
         "Consume stream >= 300k msg/s. Client CPU stays low, so these are the broker's "
         "figures.", ""]
    L += table(("broker", "workload", "msgs/s", "MB/s", "client CPU %", "broker CPU %",
                "CPU s/GB", "peak RSS MB"), rows)
    return L


def _large_section(f: Figures) -> list[str]:
    if f.ours(RAFKA, "large", "bar") is None:
        return _large_section_single_bar(f)
    L = ["## Large batches: 1 MiB produce requests", "",
         "One partition, acks=1, librdkafka `batch.size=1 MiB`, `linger.ms=20`, "
         f"{f.result['config'].get('large_size', 16384):,} B messages, for the phase cap. "
         "'Batch' is the mean producer batch from librdkafka's statistics. On this VM a write "
         "into the page cache costs 3-4x more when its pages are new to the guest than when "
         "they were freed a moment ago (`benchmarks/page_cache.py`), so each broker's cell is "
         "run both ways and compared with dd in the nearer case, measured just before it: "
         f"**new pages** (a fresh broker, {page_cache_settle(f)} s after anything was freed; "
         "dd into a new file) and **just-freed pages** (the same workload again at once, after "
         "the first pass's topic was deleted; dd rewriting its file at once). The broker is "
         "exactly in neither case (see the hand-written notes at the end), so the target asks "
         "for 50% of both. The memory section uses the first pass.", ""]
    rows = []
    for b in f.kafka:
        shares = large_shares(f, b)
        if shares is None:
            continue
        for label, workload, (mb, dd, share) in zip(
                ("new", "just freed"), ("produce", "produce-reused-pages"), shares,
                strict=True):
            m = f.ours(b, "large", workload)
            rows.append([b, label, num(mb), num(dd), _pct(share),
                         num(get(m, "msgs_per_s"), 0), num(get(m, "avg_batch_bytes"), 0),
                         num(get(m, "broker_cpu_s_per_gb")), num(get(m, "broker_cpu_pct"), 0),
                         num(get(m, "broker_peak_rss_mb")), num(gb(m), 2)])
    L += table(("broker", "pages", "MB/s", "dd MB/s", "of dd", "msgs/s", "batch B",
                "CPU s/GB", "broker CPU %", "peak RSS MB", "GB stored"), rows)
    return L


def page_cache_settle(f: Figures) -> str:
    return f"{f.result['config'].get('page_cache_settle_s', 5):g}"


def _large_section_single_bar(f: Figures) -> list[str]:
    page = page_cache_bandwidth(f)
    L = ["## Large batches: 1 MiB produce requests", "",
         "One partition, acks=1, librdkafka `batch.size=1 MiB`, `linger.ms=20`, "
         f"{f.result['config'].get('large_size', 16384):,} B messages, for the phase cap. "
         "The bar is the better of the harness's two dd figures, "
         f"{num(page)} MB/s.", ""]
    rows = []
    for b in f.kafka:
        m = f.ours(b, "large", "produce")
        if m is None:
            continue
        rows.append([b, num(get(m, "mb_per_s")), num(get(m, "msgs_per_s"), 0),
                     num(get(m, "avg_batch_bytes"), 0), num(get(m, "broker_cpu_s_per_gb")),
                     num(get(m, "broker_cpu_pct"), 0), num(get(m, "broker_peak_rss_mb")),
                     num(gb(m), 2),
                     _pct(ratio(get(m, "mb_per_s"), page))])
    L += table(("broker", "MB/s", "msgs/s", "batch B", "CPU s/GB", "broker CPU %",
                "peak RSS MB", "GB stored", "of page cache"), rows)
    return L


def _memory_section(f: Figures) -> list[str]:
    L = ["## Broker memory", "",
         "Peak RSS (VmHWM, reset before each phase) over every cell of the run. Target for "
         "Rafka: <= 150 MB, and flat in the amount stored.", ""]
    rows = []
    for b in f.brokers:
        peak, where = peak_rss(f, b)
        big = f.ours(b, "large", "produce")
        rows.append([b, num(peak), where or "-", num(get(big, "broker_peak_rss_mb")),
                     num(gb(big), 2)])
    L += table(("broker", "max peak RSS MB", "in", "RSS MB, 1 MiB-request cell",
                "GB stored there"), rows)
    return L


def _disk_memory_section(f: Figures) -> list[str]:
    dm = disk_vs_memory(f)
    if not dm:
        return []
    L = ["## Disk engine vs in-memory engine", "",
         "rafka-disk / rafka-memory, same run (produce: harness msgs/s; consume and 1 MiB "
         "requests: rafka.bench MB/s). Target >= 0.80x.", ""]
    L += table(("workload", "disk / memory", "verdict"),
               ([k, times(v), verdict(None if v is None else v >= 0.8)] for k, v in dm))
    return L


def _physical_section(f: Figures) -> list[str]:
    p = f.physical
    if not p:
        return []
    fs = p.get("fsync_4KiB") or {}
    L = ["## Physical limits (same run, ../shared/bench/physical.py)", ""]
    L += table(("measure", "value"), [
        ["loopback TCP, iperf3, 1 stream", f"{num(p.get('loopback_iperf3_gbit_s'), 1)} Gbit/s"],
        ["loopback TCP, 2 Python threads", f"{num(p.get('loopback_python_socket_gbit_s'), 1)} "
                                           "Gbit/s"],
        ["sequential 1 MiB writes, page cache", f"{num(p.get('disk_write_1MiB_pagecache_MB_s'))}"
                                                " MB/s"],
        ["… with fdatasync at the end", f"{num(p.get('disk_write_1MiB_fdatasync_at_end_MB_s'))}"
                                        " MB/s"],
        ["… O_DIRECT", f"{num(p.get('disk_write_1MiB_odirect_MB_s'))} MB/s"],
        ["4 KiB writes, O_DSYNC", f"{num(p.get('disk_write_4KiB_dsync_MB_s'))} MB/s"],
        ["4 KiB write + fdatasync", f"p50 {num(fs.get('p50_ms'), 3)} ms, p99 "
                                    f"{num(fs.get('p99_ms'), 3)} ms"],
    ])
    return L


def _errors_section(result: dict[str, Any]) -> list[str]:
    errs = [f"- harness {r['peer']} rep {r['rep']} {cell_name(r['size'], r['parts'], r['acks'])}"
            f" {r['variant']}: {r['error']}" for r in result["harness"]["rows"]
            if r["phase"] == "error"]
    errs += [f"- rafka.bench {r['broker']} rep {r['rep']} {r['kind']} "
             f"{cell_name(r['size'], r['parts'])}: {r['error']}"
             for r in result.get("ours_rows", []) if r["workload"] == "error"]
    extra = result["harness"].get("extra", {})
    notes = [f"- {b}: kcat 1.7.1 metadata probe failed ({v.get('kcat_error', '')[:160]})"
             for b, v in extra.items() if v.get("kcat_metadata_ok") is False]
    if not errs and not notes:
        return ["## Errors", "", "None: every cell completed.", ""]
    return ["## Errors and compatibility notes", "", *errs, *notes, ""]


METHOD = """## Measurement notes

What each figure means, and three client-side artifacts that the shared harness's Kafka figures
carry (they are librdkafka behaviours, not broker behaviours, so they hide how fast a Kafka
broker is; `rafka bench` avoids all three):

1. **`consume(num_messages, timeout)` waits for all of them.** confluent-kafka's
   `Consumer.consume(n, t)` returns when `n` messages are there *or* `t` has passed. The
   harness's latency receiver calls `consume(1000, 0.1)`: at 5,000 msg/s a call collects
   messages for ~100 ms before returning, so its Kafka latency figures sit near 50 ms at the
   median however fast the broker is (the Tansu and earlier peer tables in
   `../shared/bench/results/` carry this). Its throughput consumer calls `consume(10000, 0.5)`,
   so whenever the count still missing at the end is not a multiple of 10,000 (a capped produce
   phase) the last call waits out the 0.5 s timeout and that wait is counted. `rafka bench`'s
   latency receiver uses `poll()` (one wake-up per message) and its consumer asks for exactly
   the messages still missing and stops the clock at the last one received.
2. **`assign()` before metadata costs ~0.5 s.** A consumer assigned partitions before it knows
   their leader resolves `OFFSET_BEGINNING` on a retry timer, about half a second later; the
   harness assigns immediately after creating the consumer. `rafka bench` fetches the topic's
   metadata first, untimed.
3. **Fetch back-off when the local queue is full.** librdkafka stops fetching a partition for
   `fetch.queue.backoff.ms` (1,000 ms) once its local queue holds `queued.min.messages`
   (100,000). With 100 B messages a fast broker fills that in a few fetches, and the run then
   measures one-second pauses: in the harness's 100 B consume both the broker and the client
   are mostly idle (a few % broker CPU, ~20% client CPU, for Tansu and Rafka alike; see the
   JSON). `rafka bench` sets `fetch.queue.backoff.ms=1`.

**Why there is a raw Fetch client.** Even without those three artifacts, the librdkafka
consumer is a Python program that receives every message as an object: with 100 B messages it
runs at ~100% of a core while the broker is mostly idle (kcat, librdkafka in C, read 1 GB of
1 KiB messages from Rafka in 5.6 s while the broker used 0.5-0.8 CPU-s). Its MB/s is the
client's ceiling, the same for every broker, so it cannot show a 2x difference between brokers.
`rafka bench --consumer fetch` (`rafka/bench/_rawfetch.py`) reads like a replica follower or a
mirror that copies batches: one socket per broker, one Fetch in flight per socket (as librdkafka
keeps), every partition from offset 0 with max_wait 500 ms, min_bytes 1, max_bytes 10 MiB
and 1 MiB per partition (Kafka's replica fetcher defaults), and it counts records from the v2
batch headers without decoding one, re-reading the topic from offset 0 until 1 s of reading
has been timed (a single pass over a cell is ~0.1 s, too short to time on this machine)
(non-flexible Fetch v11 with both Rafka and Tansu; the response's fields are walked in place,
checked against kio's decoder in the tests, so the client's only per-byte cost is the `recv`
copy). What its figure contains: the broker's work, loopback TCP and that one copy, in series,
because one Fetch is in flight per broker. Its MB/s is the serving rate of the Kafka brokers
(Rafka and Tansu read identically); Redis and NATS have no such client here, so their figures
stay those of the harness's Python clients.

Timing rules of `rafka bench` (and part 2 of the run): produce = first send to last
acknowledgement (`produce_batch()` of 1,000 prebuilt messages, partitions round-robin per call,
`linger.ms=5`, failures counted, as the harness); consume = first fetch to last expected message
(either consumer);
latency = per message, from the scheduled send time, receiver in a separate process.
Broker CPU is utime+stime of all broker threads from `/proc/PID/stat`; peak RSS is `VmHWM` from
`/proc/PID/status`, reset through `/proc/PID/clear_refs` before each phase, as the harness does.
Python clients are often the bottleneck on 2 cores: compare the client CPU columns in the JSON.
"""


# ------------------------------------------------------------------------------ plot
def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = Figures(result)
    fig, axes = plt.subplots(2, 2, figsize=(15, 10))
    colors = dict(zip(PEER_ORDER, ("#d62728", "#ff9896", "#1f77b4", "#2ca02c", "#98df8a",
                                   "#9467bd"), strict=True))

    def bars(ax: Any, labels: list[str], series: dict[str, list[float | None]], title: str,
             ylabel: str, log: bool = False) -> None:
        n = len(series)
        width = 0.8 / max(n, 1)
        for i, (name, vals) in enumerate(series.items()):
            xs = [j + (i - (n - 1) / 2) * width for j in range(len(labels))]
            base, _, note = name.partition(" ")
            ax.bar(xs, [v or 0 for v in vals], width, label=name, color=colors.get(base),
                   hatch="//" if note else None, edgecolor="white" if note else None)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)

    cells = [(s, p, a) for s in f.sizes for p in (1, 6) for a in ("1", "all")]
    labels = [cell_name(s, p, a) for s, p, a in cells]
    bars(axes[0][0], labels, {
        b: [get(f.harness(b, "produce", s, p, a), "msgs_s")
            if a == "1" or b.startswith(("rafka", "tansu")) else None for s, p, a in cells]
        for b in f.brokers}, "Produce (harness)", "msgs/s")
    rows = consume_rows(f)
    consume: dict[str, list[float | None]] = {
        b: [r["ours"].get(b) if b in f.kafka else r["harness"].get(b) for r in rows]
        for b in f.brokers}
    serving = serving_rows(f)
    if serving:  # hatched: the same Kafka brokers read by the raw Fetch client
        consume |= {f"{b} (raw Fetch)": [r["mb"].get(b) for r in serving] for b in f.kafka}
    bars(axes[0][1], [cell_name(r["size"], r["parts"]) for r in rows], consume,
         "Consume (Kafka: librdkafka consumer" + (", hatched: raw Fetch client" if serving
                                                  else "") + "; Redis, NATS: harness)", "MB/s")
    lat_labels = ["p50", "p99", "p99.9"]
    lat: dict[str, list[float | None]] = {}
    for b in f.brokers:
        m = f.ours(b, "latency", "latency", linger=0) if b in f.kafka else \
            f.harness(b, "latency", 100, 1)
        lat[b] = [get(m, k) for k in ("p50_ms", "p99_ms", "p999_ms")]
    bars(axes[1][0], lat_labels, lat, "End-to-end latency, 100 B at 5,000 msg/s (Kafka: "
         "linger.ms=0, per-message receiver; dashed: target)", "ms (log)", log=True)
    axes[1][0].hlines([1, 2], [-0.4, 0.6], [0.4, 1.4], colors="black", linestyles="dashed",
                      label="target")
    bars(axes[1][1], labels, {
        b: [get(f.harness(b, "produce", s, p, a), "broker_cpu_s_per_gb")
            if a == "1" or b.startswith(("rafka", "tansu")) else None for s, p, a in cells]
        for b in f.brokers}, "Broker CPU seconds per GB produced (lower is better)",
        "CPU s/GB (log)", log=True)
    fig.suptitle(f"Rafka and peers, {result['date'][:10]}, {result['machine']['cpus']} cores "
                 "(provisional: shared machine)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(result: dict[str, Any], doc: Path, png: Path, json_path: Path | str | None = None
          ) -> None:
    notes = DEFAULT_NOTES
    if doc.exists():
        old = doc.read_text()
        if KEEP in old:
            notes = old.split(KEEP, 1)[1]
    md = markdown(result, json_path or result.get("json_path"))
    img = os.path.relpath(png, doc.parent)
    md += f"\n![throughput and latency per broker]({img})\n\n{KEEP}{notes}"
    doc.write_text(md)
    plot(result, png)
