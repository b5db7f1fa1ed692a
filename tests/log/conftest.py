"""Fixtures for the log tests: a settable clock, and factories that open the same test
against both engines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rafka.log import LogConfig, PartitionLog, open_log
from rafka.log.disk import DiskLog
from tests.log.helpers import FakeClock, LogFactory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["disk", "in_memory"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_log(engine: str, tmp_path: Path, clock: FakeClock) -> Iterator[LogFactory]:
    """open_log(...) for the parametrised engine; every log is closed at teardown."""
    opened: list[PartitionLog] = []

    def make(config: LogConfig | None = None) -> PartitionLog:
        directory = tmp_path / "topic-0" if engine == "disk" else None
        log = open_log(directory, config or LogConfig(), engine, clock=clock)  # type: ignore[arg-type]
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


@pytest.fixture
def make_disk_log(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., DiskLog]]:
    opened: list[DiskLog] = []

    def make(config: LogConfig | None = None, directory: Path | None = None) -> DiskLog:
        log = DiskLog(directory or tmp_path / "topic-0", config or LogConfig(), clock)
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()
