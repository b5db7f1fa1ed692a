#!/usr/bin/env python3
"""Broker CPU per message without a live run's noise: capture what real clients send, then
replay it into an in-process broker.

    .venv/bin/python benchmarks/replay.py capture /tmp/tail.pkl          # ~10 s
    .venv/bin/python benchmarks/replay.py run /tmp/tail.pkl --rounds 5   # min CPU of 5 rounds
    .venv/bin/python benchmarks/replay.py run /tmp/tail.pkl --timers     # where it goes
    .venv/bin/python benchmarks/replay.py run /tmp/tail.pkl --lines 20   # Python lines a message
    .venv/bin/python benchmarks/replay.py count /tmp/tail.pkl            # instructions, ~6 min
    .venv/bin/python benchmarks/replay.py count /tmp/tail.pkl --functions 20   # and where

`capture` starts a broker in this process (disk engine, a temporary data dir), records every
socket read of every Kafka connection in order, and drives it with `rafka bench latency`
(librdkafka producer with linger.ms=0, one message per Produce request, and a consumer
following the tail with long-polling fetches): the path the end-to-end latency target judges.

`run` feeds those reads, in the same order, to a fresh broker's connections over transports
that count the responses instead of sending them, and yields to the event loop after each read
so that fetches woken by an append answer as they would live. It prints the process CPU time
of each round and the minimum, per message produced.

Why: a live latency run's broker CPU includes the kernel's socket work and the clients' effect
on the machine. A replay round has no sockets and no clients, only the broker's request path
in the order real clients drive it. Hot-loop microbenchmarks of one function understate the
same code here by 2-3x: a request touches too much code to stay in the CPU's caches, and the
replay keeps that. On this VM a round still moves by +-15% from one to the next (user time,
with or without the garbage collector), so compare the minimum of several rounds, and
alternate the two sides of an A/B (`--src` another checkout) over several runs.

`count` gives the round's cost as instructions instead (valgrind's callgrind; ~6 min, a run
of two rounds minus a run of one, with a fixed hash seed). Two counts of the same capture and
code on 2026-11-29: 2,989.2 and 2,981.3 M instructions a round (199k a message), 0.3% apart
while the CPU time of a round moved by 15% and more. Use it to judge a change before any live
run; it cannot see system calls or cache misses, which the CPU figures include. On the same
capture, 93% of a round's instructions ran in libpython (the eval loop 38%); `--functions`
shows that split for any checkout.

The captured requests carry the topic ids and the fetch session ids the capturing broker gave
out, which a broker picks at random; so both commands number them from the same start (this
tool replaces `uuid.uuid4` and the fetch session counter in its own process only).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import itertools
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIRST_SESSION_ID = 1000

Capture = list[tuple[int, bytes]]  # (connection number, bytes of one socket read)


_uuid_numbers = [itertools.count(1)]


def make_ids_deterministic() -> None:
    """Same topic ids and fetch session ids in the capturing and the replaying broker.

    Every broker numbers its ids from the start (`restart_ids()`): with one count for the
    whole process, only the first replay round (the warm-up) gave its topic the id the
    captured Fetch requests name, and every measured round answered them UNKNOWN_TOPIC_ID
    after parking each for its full max wait (~1,800 parked at the end of a round)."""
    uuid.uuid4 = lambda: uuid.UUID(int=next(_uuid_numbers[0]))

    from rafka.server.kafka import fetch_sessions

    original_init = fetch_sessions.FetchSessionCache.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._ids = itertools.count(FIRST_SESSION_ID)

    fetch_sessions.FetchSessionCache.__init__ = init  # type: ignore[method-assign]


def restart_ids() -> None:
    """Number ids from the start again, as the capturing process did: call before each broker
    is created."""
    _uuid_numbers[0] = itertools.count(1)


def broker_config(data_dir: str, port: int) -> Any:
    from rafka.config.loader import load_config

    return load_config(
        overrides={
            "broker.data_dir": data_dir,
            "listeners.kafka.port": port,
            "listeners.grpc.enabled": False,
            "listeners.http.enabled": False,
        },
        env={},
    )


# ------------------------------------------------------------------------------ capture


async def capture(out: Path, seconds: float, rate: int, port: int) -> None:
    from rafka.server.app import BrokerServer
    from rafka.server.kafka.connection import KafkaConnection

    reads: Capture = []
    numbers: dict[int, int] = {}
    lent: dict[int, memoryview] = {}
    get_buffer, buffer_updated = KafkaConnection.get_buffer, KafkaConnection.buffer_updated

    def recording_get_buffer(self: KafkaConnection, sizehint: int) -> memoryview:
        lent[id(self)] = view = get_buffer(self, sizehint)
        return view

    def recording_buffer_updated(self: KafkaConnection, nbytes: int) -> None:
        number = numbers.setdefault(id(self), len(numbers))
        reads.append((number, bytes(lent[id(self)][:nbytes])))
        buffer_updated(self, nbytes)

    KafkaConnection.get_buffer = recording_get_buffer  # type: ignore[method-assign]
    KafkaConnection.buffer_updated = recording_buffer_updated  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory(prefix="rafka-capture-") as data_dir:
        restart_ids()
        server = BrokerServer(broker_config(data_dir, port))
        await server.start()
        assert server.kafka is not None
        try:
            bench = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "rafka", "bench", "latency",
                "-b", f"127.0.0.1:{server.kafka.port}", "--latency-linger-ms", "0",
                "--rate", str(rate), "--latency-seconds", str(seconds), "--no-progress",
                "--keep-topics",  # so the replay can count the messages at its end
            )
            if await bench.wait() != 0:
                raise SystemExit(f"rafka bench latency failed (exit code {bench.returncode})")
        finally:
            await server.stop()
    with out.open("wb") as f:
        pickle.dump(reads, f)
    print(f"{len(reads)} reads on {len(numbers)} connections -> {out}")


# ------------------------------------------------------------------------------- replay


class CountingTransport:
    """What a KafkaConnection needs of a transport; responses are counted, not sent."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.bytes_out = 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 10_000 + self.number) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.bytes_out += len(data)

    def writelines(self, chunks: list[Any]) -> None:
        for chunk in chunks:
            self.bytes_out += chunk.nbytes if isinstance(chunk, memoryview) else len(chunk)

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def is_closing(self) -> bool:
        return False

    def close(self) -> None: ...


class GcCount:
    """Cycle-collector passes per generation, and the objects they freed, while active.

    A request path that leaves reference cycles behind shows here: with the parked-fetch
    cycle fixed at 8ef63c9, a round of a 3 s latency capture made 22 gen0 and 2 gen1 passes
    that freed ~19,200 objects (~29 a park); without it, 1 pass and 33 objects."""

    def __init__(self) -> None:
        self.passes = [0, 0, 0]
        self.collected = 0

    def __enter__(self) -> GcCount:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            self.passes[info["generation"]] += 1
            self.collected += info["collected"]

    def __str__(self) -> str:
        return f"gc {'/'.join(map(str, self.passes))} passes, {self.collected} freed"


class LineCounter:
    """Python lines executed per function while enabled (`sys.settrace`; slows a round ~10x).

    A measure of how much interpreted code a message takes, and where, that does not move
    with the machine: the 2026-11-29 path ran ~550 lines a message, none dominant."""

    def __init__(self) -> None:
        self.lines: collections.Counter[tuple[str, str]] = collections.Counter()
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()

    def enable(self) -> None:
        sys.settrace(self._call)

    def disable(self) -> None:
        sys.settrace(None)

    def _key(self, frame: Any) -> tuple[str, str]:
        code = frame.f_code
        where = code.co_filename
        for root in (str(HERE.parent) + "/", sys.prefix + "/", sys.base_prefix + "/"):
            where = where.removeprefix(root)
        name = code.co_name
        if where == "<string>":  # a generated __init__ (dataclasses): say whose
            name += f" <- {frame.f_back.f_code.co_name}"
        return where, name

    def _call(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "call":
            self.calls[self._key(frame)] += 1
            return self._line
        return None

    def _line(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            self.lines[self._key(frame)] += 1
        return self._line

    def report(self, messages: int, top: int) -> None:
        total = sum(self.lines.values())
        print(f"{total / messages:.0f} Python lines a message; the {top} largest:")
        for key, lines in self.lines.most_common(top):
            print(f"  {lines / messages:7.1f} lines {self.calls[key] / messages:6.2f} calls  "
                  f"{key[0]}:{key[1]}")


async def replay_round(
    reads: Capture, profile: Any = None
) -> tuple[float, float, int, GcCount]:
    """One replay into a fresh broker: (process CPU seconds, of which user, messages
    produced, collector passes during the replay)."""
    from rafka.server.app import BrokerServer
    from rafka.server.kafka.connection import KafkaConnection

    with tempfile.TemporaryDirectory(prefix="rafka-replay-") as data_dir:
        restart_ids()
        server = BrokerServer(broker_config(data_dir, 0))
        await server.start()
        assert server.kafka is not None
        door = server.kafka.door
        connections: dict[int, KafkaConnection] = {}
        started = time.process_time()
        times_before = os.times()
        if profile is not None:
            profile.enable()
        with GcCount() as gc_count:
            for number, data in reads:
                connection = connections.get(number)
                if connection is None:
                    connection = KafkaConnection(door, 100 << 20, server.kafka.connections)
                    connection.connection_made(CountingTransport(number))  # type: ignore[arg-type]
                    connections[number] = connection
                view = memoryview(data)
                while view:
                    space = connection.get_buffer(-1)
                    n = min(len(space), len(view))
                    space[:n] = view[:n]
                    connection.buffer_updated(n)
                    view = view[n:]
                await asyncio.sleep(0)  # let fetches woken by this read answer
        if profile is not None:
            profile.disable()
        cpu = time.process_time() - started
        times_after = os.times()
        user = times_after.user - times_before.user
        produced = sum(
            partition.messages_in
            for topic in server.broker.topics.values()
            if not topic.record.internal
            for partition in topic.partitions
        )
        await server.stop()
    return cpu, user, produced, gc_count


def add_timers(names: list[str]) -> dict[str, list[int]]:
    """Wrap each `module:Class.method` (or `module:function`, replaced where it is looked up)
    with a perf_counter timer; returns name -> [calls, total ns]."""
    import importlib

    totals: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    clock = time.perf_counter_ns

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                entry = totals[name]
                entry[0] += 1
                entry[1] += clock() - start

        return wrapper

    for name in names:
        module_name, _, path = name.partition(":")
        owner: Any = importlib.import_module(module_name)
        *parents, attr = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        setattr(owner, attr, timed(name, getattr(owner, attr)))
    return totals


# The Produce and Fetch path, outermost first. Functions called by name from another module
# are wrapped where they are looked up.
DEFAULT_TIMERS = [
    "rafka.server.kafka.connection:KafkaConnection.buffer_updated",
    "rafka.server.kafka.connection:KafkaConnection._handle_frame",
    "rafka.server.kafka.connection:decode_request",
    "rafka.broker.partition:Partition.append",
    "rafka.log.disk:DiskLog.append",
    "rafka.log.disk:prepare_append",
    "rafka.log.segment:LogSegment.append",
    "rafka.log.segment:_write_all",
    "rafka.server.kafka.handlers.produce:encode_produce_response",
    "rafka.broker.fetch:LongPoll.__init__",
    "rafka.broker.fetch:LongPoll._read",
    "rafka.observability.requests:RequestStats.finished",
]


def run(args: argparse.Namespace) -> None:
    import uvloop

    with args.capture.open("rb") as f:
        reads: Capture = pickle.load(f)
    totals = add_timers(DEFAULT_TIMERS) if args.timers else None
    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile()
    uvloop.install()
    asyncio.run(replay_round(reads))  # warm-up: imports, kio schemas, first allocations
    if totals is not None:
        totals.clear()
    if args.lines:
        counter = LineCounter()
        _, _, produced, _ = asyncio.run(replay_round(reads, counter))
        counter.report(produced, args.lines)
        return
    results, users = [], []
    for i in range(args.rounds):
        cpu, user, produced, gc_count = asyncio.run(replay_round(reads, profile))
        results.append(cpu)
        users.append(user)
        print(f"round {i + 1}: {cpu * 1e3:7.1f} ms CPU ({user * 1e3:7.1f} user), "
              f"{produced} messages, {cpu / max(produced, 1) * 1e6:6.1f} us a message, "
              f"{gc_count}")
    print(f"min {min(results) * 1e3:.1f} ms CPU, {min(users) * 1e3:.1f} ms user, over "
          f"{args.rounds} rounds ({len(reads)} reads, {sys.modules['rafka'].__file__})")
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"cProfile of all rounds -> {args.profile}")
    if totals is not None:
        print(f"per call, mean of {args.rounds} rounds (timers add ~0.2 us each):")
        for name, (calls, ns) in sorted(totals.items(), key=lambda item: -item[1][1]):
            print(f"  {name.partition(':')[2]:40s} {calls / args.rounds:8.0f} calls/round "
                  f"{ns / calls / 1e3:7.2f} us")


def count(args: argparse.Namespace) -> None:
    """Instructions of one replay round, counted by valgrind (callgrind): the same figure on
    every run of the same code, whatever else the machine is doing. One round is the
    difference between a run of two rounds and a run of one (start-up and warm-up cancel).
    With `--functions N`, the round's instructions by where they run, the same way."""
    collected = []
    with tempfile.TemporaryDirectory(prefix="rafka-count-") as scratch:
        outputs = [Path(scratch) / f"callgrind.{rounds}" for rounds in (1, 2)]
        for rounds, output in zip((1, 2), outputs, strict=True):
            out_file = str(output) if args.functions else "/dev/null"
            cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                   sys.executable, str(Path(__file__).resolve()), "run", str(args.capture),
                   "--rounds", str(rounds)]
            if args.src:
                cmd += ["--src", str(args.src)]
            # A fixed hash seed: set and dict orders, and so the work done, repeat exactly.
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            found = re.search(r"Collected : (\d+)", done.stderr)
            if found is None:
                raise SystemExit(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
            collected.append(int(found.group(1)))
            produced = re.search(r"(\d+) messages", done.stdout)
            messages = int(produced.group(1)) if produced else 0
        one = collected[1] - collected[0]
        print(f"{one / 1e6:.1f} M instructions a round, {one / max(messages, 1):,.0f} a message "
              f"({messages} messages; runs of 1 and 2 rounds: {collected[0]:,} and "
              f"{collected[1]:,})")
        if args.functions:
            first, second = (_instructions_by_function(output) for output in outputs)
            _report_functions(second - first, one, args.functions)


# One line of `callgrind_annotate`: count, percentage, file:function, and the object file.
_ANNOTATED = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S+?)(?:'\d+)?(?: \[(.+)\])?$")
_PYTHON_BUILD = re.compile(r"^.*/Python-[\d.]+/")


def _instructions_by_function(output: Path) -> collections.Counter[tuple[str, str]]:
    """(object file, file:function) -> instructions, from a callgrind output."""
    done = subprocess.run(["callgrind_annotate", "--threshold=100", str(output)],
                          capture_output=True, text=True, check=True)
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for line in done.stdout.splitlines():
        match = _ANNOTATED.match(line)
        if match is None or match.group(2) == "PROGRAM":
            continue
        where = match.group(2)
        obj = match.group(3) or ("libpython" if _PYTHON_BUILD.match(where) else "?")
        if "libpython" in obj:
            obj = "libpython"
        counts[Path(obj).name, _PYTHON_BUILD.sub("", where)] += int(match.group(1).replace(",", ""))
    return counts


def _report_functions(round_: collections.Counter[tuple[str, str]], total: int, top: int) -> None:
    by_object: collections.Counter[str] = collections.Counter()
    for (obj, where), instructions in round_.items():
        if obj == "libpython":
            obj = ("libpython: the eval loop" if where.endswith("_PyEval_EvalFrameDefault")
                   else "libpython: the rest of the interpreter")
        by_object[obj] += instructions
    print("by object file:")
    for obj, instructions in by_object.most_common(12):
        print(f"  {instructions / 1e6:9.1f} M {100 * instructions / total:5.1f}%  {obj}")
    print(f"the {top} largest functions:")
    for (obj, where), instructions in round_.most_common(top):
        print(f"  {instructions / 1e6:9.1f} M {100 * instructions / total:5.1f}%  {where} ({obj})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    cap = sub.add_parser("capture", help="record a latency run's client bytes")
    cap.add_argument("out", type=Path)
    cap.add_argument("--seconds", type=float, default=3.0)
    cap.add_argument("--rate", type=int, default=5000)
    cap.add_argument("--port", type=int, default=0)
    src = argparse.ArgumentParser(add_help=False)
    src.add_argument("--src", type=Path,
                     help="import rafka from this checkout instead (A/B of a change)")
    rep = sub.add_parser("run", parents=[src], help="replay a capture and report CPU")
    rep.add_argument("capture", type=Path)
    rep.add_argument("--rounds", type=int, default=5)
    rep.add_argument("--profile", metavar="FILE", help="write a cProfile of the rounds")
    rep.add_argument("--timers", action="store_true",
                     help="time the main functions of the Produce and Fetch path")
    rep.add_argument("--lines", type=int, metavar="N", default=0,
                     help="instead: one round traced, Python lines a message, the N largest")
    cnt = sub.add_parser("count", parents=[src],
                         help="instructions of one round, by valgrind (~6 min)")
    cnt.add_argument("capture", type=Path)
    cnt.add_argument("--functions", type=int, metavar="N", default=0,
                     help="also: the round's instructions by object file, and the N largest "
                          "functions")
    args = ap.parse_args()
    if args.command == "count":
        count(args)
        return
    checkout = getattr(args, "src", None)
    sys.path.insert(0, str(checkout.resolve() if checkout else HERE.parent))
    os.environ["PYTHONPATH"] = sys.path[0]  # the bench subprocess of `capture` too
    make_ids_deterministic()
    if args.command == "capture":
        import uvloop

        uvloop.install()
        asyncio.run(capture(args.out, args.seconds, args.rate, args.port))
    else:
        run(args)


if __name__ == "__main__":
    main()
