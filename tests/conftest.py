"""Fixtures shared by every test package: real broker processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker_process import BrokerProcess


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A fresh single-node broker process with its own data dir."""
    with BrokerProcess(tmp_path / "data") as process:
        yield process


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker for a whole test module, for tests that only need distinct topics."""
    with BrokerProcess(tmp_path_factory.mktemp("shared") / "data") as process:
        yield process
