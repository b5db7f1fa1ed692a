"""The committed generated code matches proto/rafka/v1/rafka.proto."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_generated_code_is_up_to_date() -> None:
    pytest.importorskip("grpc_tools")
    result = subprocess.run(
        [sys.executable, "-m", "rafka.server.grpc.gen.generate", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
