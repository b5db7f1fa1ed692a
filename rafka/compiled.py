"""Compiled twins: a few pure-Python modules also built with mypyc, and used only when the
build matches the source.

Most of the broker's time goes to system calls, C libraries and per-request bookkeeping,
which compiling does not shorten (measured: compiling the Kafka path's modules left the broker's
CPU per message unchanged). The exception is code that loops over every message in Python: the
gRPC door reads and writes each message's protobuf bytes by hand (`rafka/server/grpc/wire.py`).
The same typed Python, compiled by mypyc, is several times faster there: `rafka bench --via
grpc`, 1,000,000 x 100 B, 3 interleaved pairs of fresh brokers: one Consume stream 0.88-1.01M
msg/s against 0.29-0.41M interpreted, PublishBatch 340-380k against 234-300k (the broker at one
core throughout).

The source stays the module everyone reads, tests and edits. `scripts/compile.py` (run by
`make run`, `make test` and `make compile`) copies each module in `TWINS` to
`rafka/_compiled/`, stamps the copy with the SHA-256 of the source, compiles it, and keeps only
the extension. A module asks `load_twin` for its twin at import and gets it only if it was
built from exactly the bytes now in its file; otherwise (never built, no compiler, or the file
edited since) it runs as written, with a warning if a stale build is present. The twins are
cross-checked against the interpreted modules in their own tests (`tests/grpc/test_wire.py`
runs on both).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
from pathlib import Path
from types import ModuleType

logger = logging.getLogger("rafka")

#: Module -> the name of its twin in `rafka._compiled`.
TWINS: dict[str, str] = {"rafka.server.grpc.wire": "grpc_wire"}
TWIN_PACKAGE = "rafka._compiled"
TWIN_DIR = Path(__file__).resolve().parent / "_compiled"
REBUILD = "make compile"

_loaded: list[str] = []


def source_digest(source_file: str | Path) -> str:
    return hashlib.sha256(Path(source_file).read_bytes()).hexdigest()


def stamp_file(twin: str) -> Path:
    """Where `scripts/compile.py` records the source digest a twin was built from."""
    return TWIN_DIR / f"{twin}.sha256"


def built_from(twin: str) -> str | None:
    """The source digest the current build of `twin` was made from (its stamp, read without
    importing it), or None if it is not built."""
    stamp = stamp_file(twin)
    if not stamp.exists() or not any(TWIN_DIR.glob(f"{twin}.*.so")):
        return None
    return stamp.read_text().strip()


def is_current(module_name: str, source_file: str | Path) -> bool:
    """A twin of `module_name` is built, from the source now in `source_file`."""
    twin = TWINS.get(module_name)
    return twin is not None and built_from(twin) == source_digest(source_file)


def load_twin(module_name: str, source_file: str) -> ModuleType | None:
    """The compiled twin of `module_name` (whose source is `source_file`), or None if there is
    none built from that exact source."""
    twin = TWINS.get(module_name)
    if twin is None:  # includes the twins themselves, which carry the same call
        return None
    try:
        module = importlib.import_module(f"{TWIN_PACKAGE}.{twin}")
    except ImportError:
        return None
    if getattr(module, "SOURCE_SHA256", None) != source_digest(source_file):
        logger.warning(
            "%s changed since it was compiled; running it interpreted (rebuild: %s)",
            source_file,
            REBUILD,
        )
        return None
    if module_name not in _loaded:
        _loaded.append(module_name)
    return module


def load_interpreted(module_name: str) -> ModuleType:
    """A separate, interpreted instance of `module_name`, whatever runs in its place: for
    cross-checking a twin against the code it was built from. (Under another name it finds
    no twin.)"""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise ImportError(f"no source for {module_name}")
    fresh = importlib.util.spec_from_file_location(f"{module_name}__interpreted", spec.origin)
    assert fresh is not None and fresh.loader is not None
    module = importlib.util.module_from_spec(fresh)
    fresh.loader.exec_module(module)
    return module


def active_twins() -> list[str]:
    """The modules imported so far that run compiled (for the start-up log)."""
    return list(_loaded)
