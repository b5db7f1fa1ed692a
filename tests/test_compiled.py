"""Compiled twins (`rafka/compiled.py`): used when built from the module's current source,
refused (with a warning) when the source changed since, and built by `scripts/compile.py`,
which `make test` runs with `--require`. What a twin computes is cross-checked against the
interpreted module in the module's own tests (`tests/grpc/test_wire.py`)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rafka import compiled
from rafka.server.grpc import wire

ROOT = Path(__file__).resolve().parent.parent
WIRE = "rafka.server.grpc.wire"


needs_twin = pytest.mark.skipif(
    not compiled.is_current(WIRE, wire.__file__),
    reason="no twin built from the current source (make compile)",
)


@needs_twin
def test_a_twin_built_from_the_current_source_is_what_runs() -> None:
    assert wire.MessageWriter.__module__ == "rafka._compiled.grpc_wire"
    assert wire.publish_results.__module__ == "rafka._compiled.grpc_wire"
    assert WIRE in compiled.active_twins()


@needs_twin
def test_a_twin_of_other_source_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    edited = tmp_path / "wire.py"
    edited.write_bytes(Path(wire.__file__).read_bytes() + b"# edited after the build\n")
    with caplog.at_level(logging.WARNING, logger="rafka"):
        assert compiled.load_twin(WIRE, str(edited)) is None
    assert "changed since it was compiled" in caplog.text
    assert compiled.load_twin(WIRE, wire.__file__) is not None


def test_modules_without_a_twin_and_the_twins_themselves_find_none() -> None:
    assert compiled.load_twin("rafka.server.grpc.consume", wire.__file__) is None
    assert compiled.load_twin("rafka._compiled.grpc_wire", wire.__file__) is None


def test_the_interpreted_instance_is_the_source_as_written() -> None:
    module = compiled.load_interpreted(WIRE)
    assert module.MessageWriter.__module__ == WIRE + "__interpreted"
    assert module.MessageWriter is not wire.MessageWriter


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_the_build_script_leaves_an_up_to_date_twin_alone() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/compile.py", "--require"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert f"{WIRE} is up to date" in done.stdout or f"{WIRE} -> " in done.stdout
    assert compiled.is_current(WIRE, wire.__file__)
