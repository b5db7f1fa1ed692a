#!/usr/bin/env python3
"""Build the mypyc twins of the modules in `rafka.compiled.TWINS` (why: that module).

    .venv/bin/python scripts/compile.py            # build what is missing or stale
    .venv/bin/python scripts/compile.py --require  # and fail if one cannot be built

`make run` runs the first form (a broker without a C compiler still runs, interpreted) and
`make test` the second, so CI tests what the benchmarks measure. A twin whose module has not
changed since its last build is left alone, so running this again costs well under a second.

Each twin is built from a copy of its module, `rafka/_compiled/<twin>.py`, stamped with the
source's SHA-256; the copy is deleted once compiled, leaving the extension (and mypyc's
runtime library for it) in `rafka/_compiled/`, which git ignores.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rafka.compiled import (  # noqa: E402
    TWIN_DIR,
    TWIN_PACKAGE,
    TWINS,
    is_current,
    source_digest,
    stamp_file,
)


def build(module: str, twin: str) -> None:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    source = Path(spec.origin)
    if is_current(module, source):
        print(f"compile: {module} is up to date")
        return
    TWIN_DIR.mkdir(exist_ok=True)
    (TWIN_DIR / "__init__.py").write_text('"""mypyc twins built by scripts/compile.py."""\n')
    for old in [*TWIN_DIR.glob(f"{twin}.*"), *TWIN_DIR.glob(f"{twin}__mypyc.*")]:
        old.unlink()
    digest = source_digest(source)
    copy = TWIN_DIR / f"{twin}.py"
    copy.write_text(source.read_text() + f'\n\nSOURCE_SHA256 = "{digest}"\n')
    try:
        # mypyc builds in the working directory and copies each extension to the module's
        # path under it: build in a scratch directory, then move the extensions in place.
        with tempfile.TemporaryDirectory() as scratch:
            built = Path(scratch) / Path(*TWIN_PACKAGE.split("."))
            built.mkdir(parents=True)
            subprocess.run(
                [sys.executable, "-m", "mypyc", str(copy)],
                cwd=scratch,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            for extension in [*built.glob(f"{twin}.*.so"), *built.glob(f"{twin}__mypyc.*.so")]:
                shutil.move(extension, TWIN_DIR / extension.name)
    finally:
        copy.unlink()
    stamp_file(twin).write_text(digest + "\n")
    print(f"compile: {module} -> {TWIN_PACKAGE}.{twin}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--require", action="store_true", help="fail if a twin cannot be built")
    a = ap.parse_args()
    failed = []
    for module, twin in TWINS.items():
        try:
            build(module, twin)
        except (OSError, subprocess.CalledProcessError) as exc:
            failed.append(module)
            print(f"compile: {module} not compiled ({exc}); it runs interpreted", file=sys.stderr)
    return 1 if failed and a.require else 0


if __name__ == "__main__":
    raise SystemExit(main())
