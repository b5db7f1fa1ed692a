"""Run ../shared/bench's peer suite over the managed peers *and* extra Kafka brokers, in one run.

Runs in the peer harness's own venv (confluent-kafka, redis, nats-py; see setup.sh) and calls the
harness's functions instead of copying them: `peers.run_peer` for every broker, `extra_checks`,
`physical.run`, `medians`, `env_info`. The one difference from `peers.py`'s own main loop is the
order: repetitions are the outer loop, so each broker's runs are spread over the whole run and a
burst of load from something else on the machine hits every broker about equally.

    python harness.py --spec spec.json --out harness.json

spec.json: {"shared": DIR, "quick": bool, "repeat": N, "peers": [managed peer names],
            "kafka": [{"name", "addr", "cmd": [...], "data_dir"}], "workdir", "tansu_bin",
            "physical": bool, "extra": bool}
Prints one JSON line per measured cell (the harness's own log format) on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import time
from types import SimpleNamespace
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_busy(addr: str) -> bool:
    host, port = addr.rsplit(":", 1)
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 0.5):
        return True
    return False


def move_if_busy(peer: Any) -> str | None:
    """The harness's peers listen on fixed ports; when something else already listens there
    (another broker on this shared machine), the harness would wait for that port, find it open
    and measure the stranger. Move the peer to a free port instead; returns the new address."""
    if not port_busy(peer.addr):
        return None
    host, old = peer.addr.rsplit(":", 1)
    new = str(free_port())
    peer.cmd = [new if c == old else c.replace(f":{old}", f":{new}") for c in peer.cmd]
    peer.addr = f"{host}:{new}"
    return str(peer.addr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.spec) as f:
        spec: dict[str, Any] = json.load(f)
    sys.path.insert(0, spec["shared"])
    import peers  # type: ignore[import-not-found]
    import physical  # type: ignore[import-not-found]

    quick = bool(spec["quick"])
    # The same configuration peers.py builds for --quick / full.
    cfg = SimpleNamespace(
        quick=quick, repeat=1,
        sizes=[(100, 200_000), (1024, 60_000)] if quick else [(100, 1_000_000), (1024, 300_000)],
        cap=3.0 if quick else 4.0, lat_rate=5000, lat_secs=3 if quick else 10,
    )
    # SIGTERM unwinds like Ctrl-C, so the harness stops the broker it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    managed = peers.managed_peers(spec["workdir"], spec["tansu_bin"])
    brokers = [managed[name] for name in spec["peers"]]
    moved = {p.name: addr for p in brokers if (addr := move_if_busy(p))}
    for k in spec["kafka"]:
        brokers.append(peers.Peer(k["name"], "kafka", k["addr"], k["cmd"],
                                  data_dir=k.get("data_dir")))
    logdir = os.path.join(spec["workdir"], "logs")
    os.makedirs(logdir, exist_ok=True)

    t0 = time.time()

    def log(row: dict[str, Any]) -> None:
        print(json.dumps({"t": round(time.time() - t0)} | {
            k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    res: dict[str, Any] = {
        "started": time.strftime("%Y%m%d-%H%M%S"),
        "env": peers.env_info(spec["tansu_bin"]),
        "config": vars(cfg) | {"repeat": spec["repeat"], "order": "repetition-major"},
        "rows": [], "extra": {}, "moved_ports": moved,
    }
    for name, addr in moved.items():
        print(f"== {name}: its usual port is taken on this machine, using {addr}", flush=True)
    if spec.get("extra", True):
        for p in brokers:
            try:
                res["extra"][p.name] = peers.extra_checks(p, cfg, logdir)
            except Exception as e:
                res["extra"][p.name] = {"error": repr(e)}
            log({"peer": p.name, "phase": "extra"} | res["extra"][p.name])
    for rep in range(spec["repeat"]):
        for p in brokers:
            print(f"== {p.name} rep {rep}", flush=True)
            for row in peers.run_peer(p, cfg, logdir, log):
                row["rep"] = rep
                res["rows"].append(row)
    if spec.get("physical", True):
        print("== physical", flush=True)
        res["physical"] = physical.run(spec["workdir"], quick)
        log({"phase": "physical"} | {k: v for k, v in res["physical"].items()
                                     if not isinstance(v, dict)})
    res["medians"] = peers.medians(res["rows"])
    res["wall_s"] = time.time() - t0
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
