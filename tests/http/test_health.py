"""`/healthz` and `/readyz` through start-up and shutdown.

In-process tests hold the broker at a chosen step (logs loading, logs closing) and ask the
HTTP listener over a real socket what it says there, so the flips are checked without races.
A real broker process checks the promise operators rely on: once /readyz says ready, the
Kafka port accepts, and after SIGTERM the listener goes away.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from rafka.config import load_config
from rafka.server.app import BrokerServer
from tests.http.scrape import request
from tests.support.broker_process import BrokerProcess, free_port


def _server(tmp_path: Path, http_port: int) -> BrokerServer:
    config = load_config(
        None,
        env={},
        overrides={
            "broker.data_dir": str(tmp_path / "data"),
            "listeners.kafka.port": 0,
            "listeners.grpc.enabled": False,
            "listeners.http.port": http_port,
        },
    )
    return BrokerServer(config)


async def _status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


def test_health_flips_during_start_up_and_shutdown(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _server(tmp_path, port)
    seen: dict[str, Any] = {}
    loading = threading.Event()
    release = threading.Event()
    real_open, real_close = server.broker.open, server.broker.close

    def slow_open() -> None:
        loading.set()
        assert release.wait(10)
        real_open()

    async def observed_close() -> None:
        async with aiohttp.ClientSession() as session:
            seen["closing"] = (
                await _status(session, base + "/healthz"),
                await _status(session, base + "/readyz"),
            )
        await real_close()

    server.broker.open = slow_open  # type: ignore[method-assign]
    server.broker.close = observed_close  # type: ignore[method-assign]

    async def scenario() -> None:
        starting = asyncio.create_task(server.start())
        await asyncio.get_running_loop().run_in_executor(None, loading.wait, 10)
        async with aiohttp.ClientSession() as session:
            seen["loading"] = (
                await _status(session, base + "/healthz"),
                await _status(session, base + "/readyz"),
                await _status(session, base + "/api/v1/overview"),
            )
            release.set()
            await starting
            seen["started"] = (
                await _status(session, base + "/healthz"),
                await _status(session, base + "/readyz"),
            )
            assert server.kafka is not None
            kafka_port = server.kafka.port
            # Ready means the Kafka listener accepts.
            _, writer = await asyncio.open_connection("127.0.0.1", kafka_port)
            writer.close()
        await server.stop()

    asyncio.run(scenario())
    assert seen["loading"] == (200, 503, 503)
    assert seen["started"] == (200, 200)
    assert seen["closing"] == (200, 503)
    # After shutdown nothing listens on the HTTP port any more.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_ready_process_accepts_kafka_and_goes_away_on_sigterm(tmp_path: Path) -> None:
    process = BrokerProcess(tmp_path / "data").start()
    try:
        reply = request(process.http_url + "/readyz")
        assert reply.status == 200 and reply.json() == {"status": "ready"}
        assert request(process.http_url + "/healthz").json() == {"status": "ok"}
        with socket.create_connection(("127.0.0.1", process.kafka_port), timeout=5):
            pass
    finally:
        assert process.stop() == 0
    started = time.monotonic()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", process.http_port)) != 0
    assert time.monotonic() - started < 5
    assert "shutdown complete" in process.log()
