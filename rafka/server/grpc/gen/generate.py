"""Regenerate the modules in this package from `proto/rafka/v1/rafka.proto`.

    .venv/bin/python -m rafka.server.grpc.gen.generate           # rewrite them
    .venv/bin/python -m rafka.server.grpc.gen.generate --check   # exit 1 if they are stale

Needs the test extra (grpcio-tools, mypy-protobuf). protoc names imports after the proto path
(`from rafka.v1 import rafka_pb2`), which would collide with our own `rafka` package, so the
import lines are rewritten to point here. The descriptor keeps the file name
`rafka/v1/rafka.proto`, which is what reflection clients see.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

GEN_DIR = Path(__file__).resolve().parent
REPO = GEN_DIR.parents[3]
PROTO_ROOT = REPO / "proto"
PROTO = "rafka/v1/rafka.proto"
OUTPUTS = ("rafka_pb2.py", "rafka_pb2.pyi", "rafka_pb2_grpc.py", "rafka_pb2_grpc.pyi")
_IMPORT_FROM = "from rafka.v1 import rafka_pb2"
_IMPORT_TO = "from rafka.server.grpc.gen import rafka_pb2"


def generate() -> dict[str, str]:
    """Run protoc (with the mypy plugins) and return {file name: text}."""
    from grpc_tools import protoc

    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{Path(protoc.__file__).parent / '_proto'}",
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--mypy_out={tmp}",
            f"--mypy_grpc_out={tmp}",
            f"--plugin=protoc-gen-mypy={shutil.which('protoc-gen-mypy', path=str(bin_dir))}",
            "--plugin=protoc-gen-mypy_grpc="
            f"{shutil.which('protoc-gen-mypy_grpc', path=str(bin_dir))}",
            PROTO,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        out = Path(tmp) / "rafka" / "v1"
        return {
            name: (out / name).read_text(encoding="utf-8").replace(_IMPORT_FROM, _IMPORT_TO)
            for name in OUTPUTS
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args(argv)
    generated = generate()
    stale = [
        name
        for name, text in generated.items()
        if not (GEN_DIR / name).exists()
        or (GEN_DIR / name).read_text(encoding="utf-8") != text
    ]
    if args.check:
        for name in stale:
            print(f"{GEN_DIR / name} is stale; run python -m rafka.server.grpc.gen.generate")
        return 1 if stale else 0
    for name, text in generated.items():
        (GEN_DIR / name).write_text(text, encoding="utf-8")
    print(f"generated {', '.join(OUTPUTS)} in {GEN_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
